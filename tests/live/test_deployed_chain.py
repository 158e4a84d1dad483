"""The whole chain under the real services (``make up``), driven through the UI with Chromium.

Log in, open curate_dataset's trigger form, submit it with its defaults, see the run succeed;
its Asset event starts finetune_adapter by itself (the training profile ``make up`` wrote),
which registers an adapter; promote_adapter with its defaults moves ``production``; the
stage logs show progress lines and the OpenLineage file has each stage's datasets with row
counts. Screenshots of each step go to ``.artifacts/live/`` (``LLMOPS_TEST_ARTIFACTS``).

The browser drives the UI unless ``LLMOPS_SKIP_BROWSER=1`` (then the same REST calls the UI
makes; never in CI, where ``CI=true``). ``-m "not live"`` skips the whole module.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.live.conftest import ARTIFACTS

pytestmark = [pytest.mark.live, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() == "true"
USE_BROWSER = IN_CI or os.environ.get("LLMOPS_SKIP_BROWSER") != "1"


class Browser:
    def __init__(self, stack):
        from playwright.sync_api import sync_playwright

        if not os.path.exists(CHROMIUM):
            pytest.fail(f"{CHROMIUM} missing: apt-get install chromium (or LLMOPS_SKIP_BROWSER=1 locally)")
        self.stack = stack
        self.out = ARTIFACTS / "live"
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir(parents=True)
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-dev-shm-usage",
            ],
        )
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.set_default_timeout(120_000)
        self.shots: list[str] = []

    def shot(self, name: str) -> None:
        self.page.wait_for_timeout(1500)
        path = self.out / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(str(path))

    def goto(self, path: str) -> None:
        self.page.goto(self.stack.base + path)
        self.page.wait_for_load_state("networkidle")

    def login(self) -> None:
        self.goto("/")
        self.page.fill("input[name=username]", "admin")
        self.page.fill("input[name=password]", live_password(self.stack))
        self.shot("login")
        self.page.locator("button[type=submit]").click()
        self.page.wait_for_url(lambda url: "/auth/login" not in url)
        self.page.wait_for_load_state("networkidle")
        self.shot("home")

    def trigger_with_defaults(self, dag_id: str) -> None:
        self.goto(f"/dags/{dag_id}")
        self.page.get_by_role("button", name="Trigger").first.click()
        dialog = self.page.locator("[role=dialog][data-state=open]")
        dialog.get_by_role("button", name="Trigger").last.wait_for()  # the form (its sections differ per DAG)
        self.shot(f"{dag_id}-form")
        dialog.get_by_role("button", name="Trigger").last.click()
        dialog.wait_for(state="detached")

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


def live_password(stack) -> str:
    import live

    return live.password(stack.home)


def test_curate_then_asset_triggered_finetune_then_promote(stack):
    for dag_id, paused in (("curate_dataset", True), ("finetune_adapter", False), ("promote_adapter", False)):
        assert stack.api(f"/api/v2/dags/{dag_id}")["is_paused"] is paused, dag_id

    browser = Browser(stack) if USE_BROWSER else None
    try:
        if browser:
            browser.login()
            browser.trigger_with_defaults("curate_dataset")  # the form unpauses the DAG on trigger
        else:  # the calls the form makes: unpause, then a run with no conf
            stack.api("/api/v2/dags/curate_dataset", {"is_paused": False}, "PATCH")
            stack.api("/api/v2/dags/curate_dataset/dagRuns", {"logical_date": None, "conf": {}}, "POST")
        curate = stack.wait_run("curate_dataset", lambda r: r["run_type"] == "manual", timeout=2400)
        # no Param changed: the form sends the defaults make up set (outputs under AIRFLOW_HOME)
        assert (
            curate["conf"].get("output_uri", stack.env["LLMOPS_OUTPUT_URI"]) == stack.env["LLMOPS_OUTPUT_URI"]
        )
        assert curate["conf"].get("config", {}) == {}
        # a scheduled run may have started when the DAG was unpaused: one of the two published
        published = [
            r
            for r in stack.runs("curate_dataset")
            if r["state"] == "success"
            and re.search(
                r"published \S+: \d+ rows", stack.task_log("curate_dataset", r["dag_run_id"], "publish")
            )
        ]
        assert published, "no curate_dataset run published a version"
        if browser:
            browser.goto(f"/dags/curate_dataset/runs/{curate['dag_run_id']}")
            browser.shot("curate_dataset-run-success")

        finetune = stack.wait_run(
            "finetune_adapter", lambda r: r["run_type"] == "asset_triggered", timeout=1800
        )
        if browser:
            browser.goto(f"/dags/finetune_adapter/runs/{finetune['dag_run_id']}")
            browser.shot("finetune_adapter-asset-run-success")

        if browser:
            browser.trigger_with_defaults("promote_adapter")
        else:
            stack.api("/api/v2/dags/promote_adapter/dagRuns", {"logical_date": None, "conf": {}}, "POST")
        stack.wait_run("promote_adapter", lambda r: r["run_type"] == "manual", timeout=600)
        if browser:
            browser.goto("/dags/promote_adapter")
            browser.shot("promote_adapter-success")
            print("screenshots:", *browser.shots, sep="\n  ")
    finally:
        if browser:
            browser.close()

    # the registry (local S3 server of make up): the profile's adapter, production -> its latest version
    s3 = stack.s3()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="llmops-adapters", Prefix="registry/")["Contents"]]
    assert "registry/tiny-llama-sft-lora/v1/manifest.json" in keys, keys
    assert "registry/tiny-llama-sft-lora/aliases/production.json" in keys, keys

    # progress lines during the stages (LLMOPS_PROGRESS_SECONDS=5), with tasks done / total and a rate
    pii_logs = "\n".join(stack.task_log("curate_dataset", r["dag_run_id"], "pii") for r in published)
    assert "progress pii: " in pii_logs and "Spark tasks done" in pii_logs and "tasks/s" in pii_logs

    # OpenLineage (file transport of make up): each stage's input -> curated/rejects with row counts
    complete = [
        e
        for e in stack.lineage_events()
        if e.get("eventType") == "COMPLETE" and e["job"]["name"].startswith("curate_dataset.")
    ]
    by_task = {e["job"]["name"].split(".", 1)[1]: e for e in complete if e.get("outputs")}
    for stage in ("ingest", "normalize", "pii", "filters"):
        event = by_task[stage]
        assert event["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] >= 0
        curated = next(o for o in event["outputs"] if o["name"].endswith(f"/{stage}/curated"))
        assert curated["namespace"] == "file"
        assert curated["outputFacets"]["outputStatistics"]["rowCount"] > 0
