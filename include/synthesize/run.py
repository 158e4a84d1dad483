"""One ``synthesize_dataset`` run: validate and read the seeds, generate, write the source curation reads.

Layout under ``<output_uri>/runs/<run>/``:

* ``data/seeds.jsonl`` — the usable seeds as OpenAI-format records (``meta.synthetic: false``);
* ``data/synthetic.jsonl`` — the generated records (``meta``: generator, prompt, demonstrations);
* ``rejects.jsonl`` — every response that gave no row, with ``reason`` and the raw text;
* ``manifest.json`` — seeds, counts (``requests = generated + rejected``), generator model,
  prompt (name, hash, text), client counters, the same-family warning and the curation conf.

``data/`` is the ``source_uri`` of the ``curate_dataset`` run that follows (only
``synthetic.jsonl`` when ``include_seeds`` is off): the same curation as any source.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from include import storage
from include.config import load_config
from include.config.synthesize import SynthesizeConfig, load_synthesize_config
from include.run import safe_run_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthPaths:
    output_uri: str
    run_id: str

    @property
    def run_dir(self) -> str:
        return storage.join(self.output_uri, "runs", safe_run_id(self.run_id))

    @property
    def data(self) -> str:
        return storage.join(self.run_dir, "data")

    @property
    def seeds(self) -> str:
        return storage.join(self.data, "seeds.jsonl")

    @property
    def synthetic(self) -> str:
        return storage.join(self.data, "synthetic.jsonl")

    @property
    def rejects(self) -> str:
        return storage.join(self.run_dir, "rejects.jsonl")

    @property
    def manifest(self) -> str:
        return storage.join(self.run_dir, "manifest.json")


def judge_model(pcfg) -> str | None:
    """The curation's quality judge model, when that judge is on."""
    return pcfg.quality.judge.model if pcfg.enabled("quality") and pcfg.quality.judge.enabled else None


def prepare(
    *,
    seeds_uri: str,
    output_uri: str,
    target_count: int,
    config: dict | str | None,
    curate_output_uri: str,
    curate_config: dict | str | None,
    run_id: str,
    generator: dict | None = None,
) -> dict:
    """Validate everything before any request (raises ConfigError / JudgeConfigError /
    FileNotFoundError / ValueError naming the problem), write ``data/seeds.jsonl``, return the plan."""
    from include.config import parse_overrides
    from include.quality.judge import resolve_endpoint
    from include.synthesize.generate import family_warning
    from include.synthesize.seeds import load_seeds, seed_record

    cfg = load_synthesize_config(config, **(generator or {}))
    curate_overrides = parse_overrides(curate_config)
    pcfg = load_config(curate_overrides)
    if target_count < 1:
        raise ValueError(f"target_count must be >= 1, got {target_count}")
    endpoint = resolve_endpoint(cfg.generator)  # a missing connection fails here
    ep = pcfg.storage.s3_endpoint_url
    seeds = load_seeds(seeds_uri, pcfg, cfg.max_seeds, ep)
    if not seeds.demos:
        raise ValueError(
            f"seeds_uri={seeds_uri!r}: no usable seed example (sft rows ending in an assistant answer); "
            f"skipped: {seeds.summary()['skipped_by_reason']}"
        )
    paths = SynthPaths(output_uri, run_id)
    storage.write_jsonl(paths.seeds, [seed_record(r) for r in seeds.rows], ep)
    warning = family_warning(cfg.generator.model, judge_model(pcfg))
    if warning:
        log.warning("synthesize: %s", warning)
    log.info(
        "synthesize %s: %d usable seeds from %s (%s), target %d, generator %s, run folder %s",
        run_id,
        len(seeds.demos),
        seeds_uri,
        seeds.kind,
        target_count,
        endpoint.model,
        paths.run_dir,
    )
    return {
        "run_id": run_id,
        "seeds_uri": seeds_uri,
        "output_uri": output_uri,
        "target_count": target_count,
        "config": cfg.to_dict(),
        "seeds": seeds.summary(),
        "curate_output_uri": curate_output_uri,
        "curate_config": curate_overrides,
        "family_warning": warning,
        "run_dir": paths.run_dir,
    }


def generate(plan: dict) -> dict:
    """Generate for a prepared run; writes the data, rejects and manifest; returns the manifest."""
    from include.quality.client import without_userinfo
    from include.quality.judge import resolve_endpoint
    from include.synthesize.generate import Synthesizer
    from include.synthesize.seeds import load_seeds

    cfg = SynthesizeConfig.model_validate(plan["config"])
    pcfg = load_config(plan["curate_config"])
    ep = pcfg.storage.s3_endpoint_url
    paths = SynthPaths(plan["output_uri"], plan["run_id"])
    endpoint = resolve_endpoint(cfg.generator)
    seeds = load_seeds(paths.seeds, pcfg, cfg.max_seeds, ep)
    cache_uri = cfg.generator.cache_uri or storage.join(plan["output_uri"], "_cache", "synthesize")
    synth = Synthesizer(cfg, endpoint, cache_uri, storage.endpoint_url(ep), plan["run_id"])
    try:
        res = synth.run(seeds.demos, plan["target_count"])
    finally:
        synth.client.close()
    storage.write_jsonl(paths.synthetic, res.rows, ep)
    storage.write_jsonl(paths.rejects, res.rejects, ep)
    source = paths.data if cfg.include_seeds else paths.synthetic
    prov = synth.provenance()
    manifest = {
        "run_id": plan["run_id"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seeds": plan["seeds"],
        "target_count": plan["target_count"],
        "generated": len(res.rows),
        "requests": res.requests,
        "rejected": len(res.rejects),
        "rejected_by_reason": res.rejected_by_reason,
        "not_sent": res.not_sent,
        "stopped": res.stopped,
        "accounting": {"ok": res.requests == len(res.rows) + len(res.rejects)},
        "generator": {
            "model": prov["generator_model"],
            "family": prov["generator_family"],
            "base_url": without_userinfo(endpoint.base_url),
            "temperature": cfg.generator.temperature,
            "max_tokens": cfg.generator.max_tokens,
        },
        "prompt": {"name": prov["prompt_name"], "hash": prov["prompt_hash"], "text": prov["prompt_text"]},
        "judge_model": judge_model(pcfg),
        "family_warning": plan["family_warning"],
        "client": dict(sorted(res.tally.items())),
        "budget": {"requests": cfg.generator.budget_requests, "tokens": cfg.generator.budget_tokens},
        "cache_uri": cache_uri,
        "config": plan["config"],
        "outputs": {
            "data": paths.data,
            "seeds": paths.seeds,
            "synthetic": paths.synthetic,
            "rejects": paths.rejects,
        },
        "curate_conf": {
            "source_uri": source,
            "output_uri": plan["curate_output_uri"],
            "config": plan["curate_config"],
        },
    }
    storage.write_json(paths.manifest, manifest, ep)
    return {**manifest, "manifest": paths.manifest}
