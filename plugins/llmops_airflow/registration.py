"""The registry side of ``finetune_adapter`` (the production reference for the gate, evaluate ->
register -> promote) and the
``promote_adapter`` DAG's promotion; registry errors become ``AirflowFailException``.

Light imports only at module level (the DAG files import this at parse time).
"""

from __future__ import annotations

import logging

from include import storage
from include.config.training import TrainingConfig
from llmops_airflow.finetune_defaults import PRODUCTION_ALIAS, fail

log = logging.getLogger(__name__)


def production_reference(cfg: TrainingConfig, run: dict) -> tuple[TrainingConfig, dict]:
    """Point the gate at the adapter aliased ``production`` (same base model and method), if any."""
    from include.registry import AdapterRegistry, RegistryError

    if not cfg.gate.compare_to_production:
        return cfg, {"skipped": "gate.compare_to_production is false"}
    try:
        reg = AdapterRegistry(run["registry_uri"], aws_conn_id=run.get("aws_conn_id"))
        version = reg.resolve_alias(run["adapter_name"], PRODUCTION_ALIAS)
        manifest = reg.get(run["adapter_name"], version)
    except RegistryError as exc:
        return cfg, {"skipped": f"no production adapter: {exc}"}
    if (manifest.get("base_model"), manifest.get("method")) != (cfg.base_model, cfg.method):
        return cfg, {
            "skipped": f"production v{version} is {manifest.get('method')} on {manifest.get('base_model')}, "
            f"not {cfg.method} on {cfg.base_model}",
            "version": version,
        }
    gate = cfg.gate.model_copy(
        update={"production_adapter_uri": manifest["uri"], "production_version": version}
    )
    return cfg.model_copy(update={"gate": gate}), {"version": version, "uri": manifest["uri"]}


def evaluate(run: dict) -> dict:
    """Completeness of the output (fails when incomplete) + the evaluation gate (recorded, the
    ``promote`` task acts on it)."""
    from include.training import evaluate as ev

    cfg = TrainingConfig.model_validate(run["config"])
    model_uri = run["paths"]["model"]
    try:
        outputs = ev.check_outputs(model_uri)
    except (ev.GateFailed, FileNotFoundError) as exc:
        fail(str(exc))
    metrics = ev.load_json(storage.join(model_uri, "metrics.json"))
    gate = ev.apply_gate(metrics, cfg.gate, cfg.method)
    result = {"outputs": outputs, **gate}
    storage.write_json(run["paths"]["evaluation"], result)
    for c in gate["checks"]:
        log.info(
            "gate %-28s %s %s %s -> %s",
            c["check"],
            c["value"],
            c["op"],
            c["threshold"],
            f"skipped ({c['reason']})" if c.get("skipped") else "pass" if c["passed"] else "FAIL",
        )
    log.info("gate %s%s", gate["status"], f": {'; '.join(gate['reasons'])}" if gate["reasons"] else "")
    return result


def register(run: dict, evaluation: dict) -> dict:
    """Upload the model folder as the next registry version with its lineage manifest."""
    from include.registry import AdapterRegistry, RegistryError
    from include.training import evaluate as ev

    cfg = TrainingConfig.model_validate(run["config"])
    model_uri = run["paths"]["model"]
    metrics = ev.load_json(storage.join(model_uri, "metrics.json"))
    trainset = ev.load_json(storage.join(run["paths"]["trainset"], "trainset.json"))
    identity_cfg = cfg.model_copy(update={"output_uri": ""})  # run folders are not part of the identity
    manifest = ev.lineage_manifest(
        cfg_dict=identity_cfg.to_dict(),
        config_hash=identity_cfg.digest(),
        trainset_info=trainset,
        metrics=metrics,
        evaluation=evaluation,
        model_uri=model_uri,
        base=ev.base_model_fingerprint(cfg.base_model, cfg.base_model_revision),
        tokenizer_hash=ev.tokenizer_hash(model_uri),
        run_id=run["run_id"],
    )
    manifest["plan"] = {
        k: run["plan"].get(k) for k in ("gpu", "sagemaker_instance", "required_gb", "components_gb")
    }
    try:
        reg = AdapterRegistry(run["registry_uri"], aws_conn_id=run.get("aws_conn_id"))
        version = reg.register(run["adapter_name"], model_uri, manifest)
    except RegistryError as exc:
        fail(str(exc))
    out = {
        **version.to_dict(),
        "gate": evaluation.get("status", "passed" if evaluation.get("passed") else "failed"),
    }
    storage.write_json(run["paths"]["registration"], out)
    from llmops_airflow.lineage import record_edge

    record_edge([cfg.dataset_uri, model_uri], [version.uri])  # OpenLineage: dataset -> adapter version
    log.info(
        "registered %s v%d at %s (manifest %s, %s)",
        version.adapter_name,
        version.version,
        version.uri,
        version.manifest_uri,
        "new" if version.created else "same content as an existing version",
    )
    return out


def promote(run: dict, registration: dict) -> dict:
    """Aliases after registration: a failed gate fails the run (the version stays recorded, no alias
    moved); a passing version is ``latest`` (moved by the registry) and becomes ``production`` when
    the ``promote`` Param is set, else waits for the ``promote_adapter`` DAG."""
    from include.registry import AdapterRegistry, RegistryError

    name, version = registration["adapter_name"], registration["version"]
    evaluation = storage.read_json(run["paths"]["evaluation"])
    out = {"adapter_name": name, "version": version, "gate": registration.get("gate"), "aliases": {}}
    if not evaluation.get("passed"):
        storage.write_json(run["paths"]["promotion"], out)
        fail(
            f"evaluation gate failed: {'; '.join(evaluation.get('reasons') or [])}. {name} v{version} is recorded "
            "with gate: failed; latest and production were not moved"
        )
    try:
        reg = AdapterRegistry(run["registry_uri"], aws_conn_id=run.get("aws_conn_id"))
        if run.get("promote"):
            out["aliases"][PRODUCTION_ALIAS] = reg.set_alias(name, PRODUCTION_ALIAS, version)
            log.info("promoted %s v%d to %s", name, version, PRODUCTION_ALIAS)
        else:
            log.info(
                "%s v%d passed its gate and is latest; production unchanged (Param promote is off): trigger "
                "the promote_adapter DAG to promote it",
                name,
                version,
            )
        out["current"] = reg.aliases(name)
    except RegistryError as exc:
        fail(str(exc))
    storage.write_json(run["paths"]["promotion"], out)
    return out


def newest_adapter(reg) -> str:
    """The adapter whose latest version was registered last (promote_adapter's empty ``adapter_name``)."""
    from include.registry import RegistryError

    dated = []
    for name in reg.list_adapters():
        try:
            dated.append((reg.get(name, "latest").get("created_at") or "", name))
        except RegistryError:  # no version passed its gate yet
            continue
    if not dated:
        raise RegistryError(f"no adapter with a passing version in {reg.uri}: run finetune_adapter first")
    name = max(dated)[1]
    log.info("adapter_name empty: %s (its latest version is the newest in the registry)", name)
    return name


def promote_version(params: dict, reviewed: dict | None = None) -> dict:
    """``promote_adapter``: point ``alias`` at ``version``; a failed-gate version needs ``force``.
    ``reviewed`` (the review task's result) pins the adapter, version number and alias approved."""
    from include.registry import AdapterRegistry, RegistryError

    p = dict(params or {})
    name, ref, alias = (str(p.get(k) or "").strip() for k in ("adapter_name", "version", "alias"))
    if reviewed:
        name, ref, alias = reviewed["adapter_name"], reviewed["version"], reviewed["alias"]
    try:
        reg = AdapterRegistry(
            str(p.get("registry_uri") or "").strip(), aws_conn_id=(p.get("aws_conn_id") or "").strip() or None
        )
        name = name or newest_adapter(reg)
        pointer = reg.set_alias(name, alias or PRODUCTION_ALIAS, ref or "latest", force=bool(p.get("force")))
    except RegistryError as exc:
        fail(str(exc))  # a refused promotion is final: no retry
    log.info(
        "%s: %s now -> v%d (was %s)%s",
        name,
        pointer["alias"],
        pointer["version"],
        pointer["previous_version"],
        " FORCED despite a failed gate" if pointer.get("forced_despite_failed_gate") else "",
    )
    return pointer
