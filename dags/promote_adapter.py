"""
### promote_adapter

Manual promotion in the S3 adapter registry: points an alias (default `production`) at a
registered adapter version (default `latest`, the newest version that passed its
evaluation gate) of an adapter (default: the one registered last). Trigger it from the UI
after reviewing a `finetune_adapter` run that was not promoted automatically (its `promote`
Param off).

`review` → `approve` → `promote`: `review` resolves the adapter and version and reads its
manifest; with `require_approval` on, a promotion to `production` waits in `approve` for a
human (the UI's required actions, or `PATCH /api/v2/hitlDetails/...`): the request shows the
gate and the metrics; Reject skips `promote`. Without it `approve` is skipped.

* A version whose manifest records a failed gate (`gate.passed: false`) is refused with
  the gate's reasons, unless `force` is set; the alias pointer then records
  `forced_despite_failed_gate: true`.
* The alias file `<registry_uri>/<adapter_name>/aliases/<alias>.json` keeps the previous
  version (`previous_version`), so a rollback is this DAG with that version.
* `latest` and `v<N>` are reserved names and cannot be set here.

Same as `python -m include.registry REGISTRY_URI alias NAME ALIAS REF [--force]`.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param
from llmops_airflow.approval import PromotionApproval
from llmops_airflow.dag_defaults import dag_args
from llmops_airflow.finetune_defaults import (
    NAME_PATTERN,
    PRODUCTION_ALIAS,
    aws_conn_id_param,
    optional_name_param,
    registry_uri_param,
    switch_param,
)
from llmops_airflow.finetune_tasks import promote_version, review_promotion

with DAG(
    dag_id="promote_adapter",
    description="Point a registry alias (production) at an adapter version that passed its gate",
    schedule=None,
    # manual only (no schedule): unpaused, a trigger runs at once; promotions may overlap
    **dag_args("training", "registry", unpaused=True, max_active_runs=None, default_args={"retries": 2}),
    doc_md=__doc__,
    params={
        "registry_uri": registry_uri_param(),
        "adapter_name": optional_name_param(
            "Adapter name",
            "Registry name of the adapter (as finetune_adapter registered it). Empty: the adapter registered last",
            "Adapter",
        ),
        "version": Param(
            "latest",
            type="string",
            minLength=1,
            section="Adapter",
            title="Version",
            description="N, vN, latest (newest version that passed its gate) or another alias (e.g. staging)",
        ),
        "alias": Param(
            PRODUCTION_ALIAS,
            type="string",
            pattern=NAME_PATTERN,
            section="Adapter",
            title="Alias",
            description="Alias to move (letters, digits, . _ -); latest and v<N> are reserved",
        ),
        "require_approval": switch_param(
            "Require approval",
            "Promotion to production waits for a human: a required action in the UI (Browse > "
            "Required Actions) showing the version's gate and metrics; Reject leaves the alias unchanged",
            "Adapter",
        ),
        "aws_conn_id": aws_conn_id_param(),
        "force": switch_param(
            "Force",
            "Promote even a version whose evaluation gate failed (recorded in the alias pointer)",
            "Adapter",
        ),
    },
) as dag:
    reviewed = review_promotion()
    reviewed >> PromotionApproval(task_id="approve") >> promote_version(reviewed)
