"""Run the curated-dataset suite with Great Expectations 1.x on a Spark DataFrame.

An ephemeral context and a Spark dataframe datasource: nothing is built at DAG parse
time (the GX provider's ``GXValidateDataFrameOperator`` builds its frame at parse time,
which does not work for Spark). Results come back as plain dicts; Data Docs HTML is
rendered into a local folder that the caller uploads next to the run manifest.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from include.settings import REPO_ROOT

log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"^\$\{(\w+)\}$")


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    observed: object
    details: dict

    def describe(self) -> str:
        col = f" [{self.column}]" if self.column else ""
        return f"{'PASS' if self.success else 'FAIL'} {self.expectation}{col}: observed {self.observed}"


def load_suite_spec(path: str, params: dict) -> dict:
    """The suite YAML with ``${name}`` filled from ``params`` and ``when``-disabled entries dropped."""
    p = Path(path)
    p = p if p.is_absolute() else REPO_ROOT / p
    spec = yaml.safe_load(p.read_text())

    def fill(value):
        if isinstance(value, str) and (m := _PLACEHOLDER.match(value)):
            if m.group(1) not in params:
                raise ValueError(f"{p}: unknown suite parameter ${{{m.group(1)}}}")
            return params[m.group(1)]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    exps = []
    for e in spec["expectations"]:
        if e.get("when") and not params.get(e["when"]):
            continue
        exps.append({"type": e["type"], "kwargs": fill(e.get("kwargs", {}))})
    return {"name": spec.get("name", p.stem), "expectations": exps}


def _observed(result: dict):
    if "observed_value" in result:
        return result["observed_value"]
    if "unexpected_count" in result:
        sample = result.get("partial_unexpected_list") or []
        return f"{result['unexpected_count']} unexpected of {result.get('element_count')}, e.g. {sample[:3]}"
    return result


def validate_dataframe(
    df, spec: dict, data_docs_dir: str | None = None
) -> tuple[bool, list[ExpectationOutcome]]:
    """Validate ``df`` against ``spec``; optionally render Data Docs into ``data_docs_dir``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    if data_docs_dir:
        ctx.add_data_docs_site(
            site_name="local",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": data_docs_dir,
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    batch_def = (
        ctx.data_sources.add_spark("curated")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name=spec["name"]))
    for e in spec["expectations"]:
        cls = getattr(gx.expectations, e["type"], None)
        if cls is None:
            raise ValueError(f"unknown expectation {e['type']!r} in suite {spec['name']}")
        suite.add_expectation(cls(**e["kwargs"]))
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=spec["name"], data=batch_def, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["local"])] if data_docs_dir else []
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(name=spec["name"], validation_definitions=[vd], actions=actions)
    )
    run = checkpoint.run(batch_parameters={"dataframe": df})
    outcomes = []
    for vr in run.run_results.values():
        for r in vr.results:
            cfg = r.expectation_config
            outcomes.append(
                ExpectationOutcome(
                    expectation=cfg.type,
                    column=cfg.kwargs.get("column"),
                    success=bool(r.success),
                    observed=_observed(r.result),
                    details=r.result,
                )
            )
    return bool(run.success), outcomes
