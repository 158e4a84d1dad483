"""Human approval before a promotion (``promote_adapter``'s ``require_approval`` Param).

``review`` resolves the adapter and version and reads its manifest; ``approve`` is Airflow's
``ApprovalOperator`` (a required action in the UI, answered in the browser or through the
``/api/v2/hitlDetails`` REST API) whose request shows the version's gate and metrics. It skips
itself when no approval is required; a "Reject" skips ``promote``. The promotion then points the
alias at exactly the reviewed version number.
"""

from __future__ import annotations

import logging

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowSkipException

from llmops_airflow.finetune_defaults import PRODUCTION_ALIAS, fail

log = logging.getLogger(__name__)
REVIEW_TASK_ID = "review"
#: the metrics the approval request lists (when the manifest has them)
METRICS = ("eval_loss", "base_eval_loss", "eval_perplexity", "train_loss", "eval_accuracy", "reward_mean")


def request_body(name: str, version: int, alias: str, manifest: dict) -> str:
    """Markdown of the approval request: what moves where, the gate and its metrics."""
    gate = manifest.get("gate") or {}
    metrics = manifest.get("metrics") or {}
    lines = [
        f"Point **{alias}** of `{name}` at **v{version}**.",
        "",
        f"* gate: **{'passed' if gate.get('passed') else 'FAILED'}**"
        + (f" ({'; '.join(gate['reasons'])})" if gate.get("reasons") else ""),
        f"* base model: `{manifest.get('base_model')}`",
        f"* dataset: `{(manifest.get('dataset') or {}).get('uri') or manifest.get('dataset_uri')}`",
    ]
    lines += [f"* {k}: {metrics[k]:.4g}" for k in METRICS if isinstance(metrics.get(k), int | float)]
    for k, v in (gate.get("checks") or {}).items() if isinstance(gate.get("checks"), dict) else []:
        lines.append(f"* check {k}: {v}")
    return "\n".join(lines)


def review(params: dict) -> dict:
    """Resolve ``adapter_name`` / ``version`` and describe the promotion for the approver."""
    from include.registry import AdapterRegistry, RegistryError
    from llmops_airflow.registration import newest_adapter

    p = dict(params or {})
    alias = str(p.get("alias") or "").strip() or PRODUCTION_ALIAS
    try:
        reg = AdapterRegistry(
            str(p.get("registry_uri") or "").strip(), aws_conn_id=(p.get("aws_conn_id") or "").strip() or None
        )
        name = str(p.get("adapter_name") or "").strip() or newest_adapter(reg)
        version = reg.resolve(name, str(p.get("version") or "").strip() or "latest")
        manifest = reg.get(name, version)
    except RegistryError as exc:
        fail(str(exc))
    needs = bool(p.get("require_approval")) and alias == PRODUCTION_ALIAS
    out = {
        "adapter_name": name,
        "version": version,
        "alias": alias,
        "gate": manifest.get("gate"),
        "metrics": {k: (manifest.get("metrics") or {}).get(k) for k in METRICS},
        "needs_approval": needs,
        "subject": f"Promote {name} v{version} to {alias}?",
        "body": request_body(name, version, alias, manifest),
    }
    log.info("%s%s", out["subject"], " (approval required)" if needs else " (no approval required)")
    return out


class PromotionApproval(ApprovalOperator):
    """The approval request of a promotion to ``production``; skipped when not required."""

    def __init__(self, **kwargs):
        xcom = f"ti.xcom_pull(task_ids='{REVIEW_TASK_ID}')"
        kwargs.setdefault("subject", "{{ " + xcom + "['subject'] }}")
        kwargs.setdefault("body", "{{ " + xcom + "['body'] }}")
        kwargs.setdefault(
            "doc_md",
            "With `require_approval` (and alias `production`): asks a human, under the UI's required "
            "actions, to approve the reviewed version, showing its gate and metrics. Reject skips "
            "`promote`. Skipped when no approval is required.",
        )
        super().__init__(**kwargs)

    def execute(self, context):
        if not context["ti"].xcom_pull(task_ids=REVIEW_TASK_ID)["needs_approval"]:
            raise AirflowSkipException(
                "no approval required (require_approval off, or alias is not production)"
            )
        return super().execute(context)
