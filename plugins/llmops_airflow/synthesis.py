"""Tasks of the ``synthesize_dataset`` DAG: prepare (validate, read seeds), generate, hand to curation.

The logic is in :mod:`include.synthesize`; these tasks turn its errors into failures that are
not retried (a bad Param or config is not fixed by retrying) and pass the curation conf on.
"""

from __future__ import annotations

import logging

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)
PREPARE_TASK_ID, GENERATE_TASK_ID = "prepare_run", "generate"
#: the triggered curate_dataset run's conf, rendered from the generate task's result
CURATE_CONF = "{{ ti.xcom_pull(task_ids='" + GENERATE_TASK_ID + "')['curate_conf'] | tojson }}"


@task(task_id=PREPARE_TASK_ID, retries=0)
def prepare_task(params=None, run_id=None) -> dict:
    """Validate the Params, the generator and curation configs and the endpoint; read the seeds.

    A bad config, an unresolvable endpoint or seeds without one usable example fail here (no
    retry) naming the setting; no request is sent. Writes `data/seeds.jsonl`. Warns (log and
    manifest) when the generator and the curation's quality judge are of one model family."""
    from include.config import ConfigError
    from include.quality.judge import JudgeConfigError
    from include.synthesize.run import prepare

    try:
        return prepare(
            seeds_uri=params["seeds_uri"],
            output_uri=params["output_uri"],
            target_count=int(params["target_count"]),
            config=params["config"],
            curate_output_uri=params["curated_output_uri"],
            curate_config=params["curate_config"],
            run_id=run_id,
            generator={
                "model": params.get("generator_model"),
                "base_url": params.get("generator_base_url"),
                "conn_id": params.get("generator_conn_id"),
            },
        )
    except (ConfigError, JudgeConfigError, FileNotFoundError, ValueError) as exc:
        raise AirflowFailException(str(exc)) from None


@task(task_id=GENERATE_TASK_ID)
def generate_task(plan: dict) -> dict:
    """Self-instruct: each request shows k sampled seeds and asks for one new instruction and
    answer; parse, check (length, copies of seeds, duplicates), write `data/synthetic.jsonl`,
    `rejects.jsonl` and `manifest.json`. Fails when nothing usable came back."""
    from include.synthesize.run import generate

    manifest = generate(plan)
    if not manifest["accounting"]["ok"]:
        raise AirflowFailException(f"requests != generated + rejected: {manifest['manifest']}")
    if manifest["generated"] == 0:
        raise AirflowFailException(
            f"nothing generated ({manifest['stopped']}); rejects by reason: "
            f"{manifest['rejected_by_reason']}; see {manifest['outputs']['rejects']}"
        )
    log.info(
        "generated %d of %d (rejected %s); curation source %s",
        manifest["generated"],
        manifest["target_count"],
        manifest["rejected_by_reason"],
        manifest["curate_conf"]["source_uri"],
    )
    # the prompt text is in the manifest file; keep XCom small
    return {k: v for k, v in manifest.items() if k not in ("prompt", "config")} | {
        "prompt": {"name": manifest["prompt"]["name"], "hash": manifest["prompt"]["hash"]}
    }
