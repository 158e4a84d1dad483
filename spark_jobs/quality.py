"""Stage ``quality``: classifier scoring and LLM-as-judge scoring (see ``include.quality``).

Off by default: with judge and classifier disabled, ``enabled: auto`` skips the stage
(``enabled: true`` runs it and passes rows through unchanged). Otherwise,
per Arrow batch in the executors (judge client and classifier built once per process),
:class:`include.quality.engine.QualityEngine` decides each row (classifier threshold, judge
threshold, unscored policy, the 0..5 -> 0..1 scale). ``signals`` (JSON) gains ``judge``
(scores and justifications, or the unscored reason), ``judge_pair`` (position-bias check)
and ``classifier``. ``stats.json`` details: requests, tokens, cache hits, failures, score
distributions, the length-score correlation, position-bias counts and the same-family warning.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.quality.client import without_userinfo
from include.quality.engine import FLAG_INVERTED, FLAG_UNSCORED, INFO_KEYS
from spark_jobs.common import (
    DETAIL,
    REASON,
    StageOutput,
    decide,
    kept,
    main,
    read_parquet,
    split_decisions,
    spread,
)

log = logging.getLogger("spark_jobs.quality")
INFO = "_q_info"


def _partition_share(total: int | None, n: int, pid: int) -> int | None:
    """This partition's even share of a run budget (the shares add up to ``total``)."""
    if total is None:
        return None
    return total // n + (1 if pid < total % n else 0)


def scored(df, qcfg, endpoint, cache_uri: str | None, s3_endpoint: str | None, partitions: int):
    """``df`` with ``quality``, ``flags``, ``signals`` set, the decision columns and judge counters."""
    from pyspark.sql import types as T

    jcfg = qcfg.judge

    def make_decider():
        from pyspark import TaskContext

        from include.quality.client import Budget
        from include.quality.engine import QualityEngine
        from include.quality.judge import get_judge

        judge = (
            get_judge(jcfg, endpoint, cache_uri, s3_endpoint) if jcfg.enabled else None
        )  # once per process
        engine = QualityEngine(qcfg, judge, endpoint.model if endpoint else None)
        pid = TaskContext.get().partitionId() if TaskContext.get() else 0
        budget = Budget(
            _partition_share(jcfg.budget_requests, partitions, pid),
            _partition_share(jcfg.budget_tokens, partitions, pid),
        )

        def decide_rows(rows):
            for r, d in zip(rows, engine.decide_rows(rows, budget), strict=True):
                r.update(
                    {
                        "quality": d.score,
                        "flags": list(dict.fromkeys(d.flags)) or None,
                        "signals": json.dumps(d.signals, sort_keys=True, ensure_ascii=False)
                        if d.signals
                        else None,
                        REASON: d.reason,
                        DETAIL: d.detail,
                        INFO: json.dumps(d.info) if d.info else None,
                    }
                )
            return rows

        return decide_rows

    fields = [
        T.StructField("quality", T.DoubleType(), True),
        T.StructField("flags", T.ArrayType(T.StringType()), True),
        T.StructField("signals", T.StringType(), True),
        T.StructField(INFO, T.StringType(), True),
    ]
    return decide(df, make_decider, fields)


def _safe_corr(x, y):
    """Pearson correlation that is null, never a DIVIDE_BY_ZERO error under ANSI mode, when
    either side is constant (every judge score equal) or there are fewer than two rows."""
    from pyspark.sql import functions as F

    return F.try_divide(F.covar_pop(x, y), F.stddev_pop(x) * F.stddev_pop(y))


def _judge_stats(out, jcfg, endpoint, rubric) -> dict:
    from pyspark.sql import functions as F

    info_schema = "struct<" + ",".join(f"{k}:long" for k in (*INFO_KEYS, "answer_chars")) + ">"
    j = out.where(F.col(INFO).isNotNull() | F.get_json_object("signals", "$.judge").isNotNull())
    j = j.select(
        F.from_json(INFO, info_schema).alias("i"),
        F.get_json_object("signals", "$.judge.mean").cast("double").alias("mean"),
        F.get_json_object("signals", "$.judge.unscored").alias("unscored"),
        F.get_json_object("signals", "$.judge_pair.consistent").alias("consistent"),
        F.get_json_object("signals", "$.judge_pair.inverted").alias("inverted"),
        F.get_json_object("signals", "$.judge_pair.unscored").alias("pair_unscored"),
        *(
            F.get_json_object("signals", f"$.judge.scores.{c}.score").cast("double").alias(c)
            for c in rubric.criteria
        ),
    )
    sums = j.agg(
        *(F.coalesce(F.sum(f"i.{k}"), F.lit(0)).alias(k) for k in INFO_KEYS),
        F.count(F.col("mean")).alias("scored"),
        F.avg("mean").alias("mean"),
        _safe_corr(F.col("i.answer_chars").cast("double"), F.col("mean")).alias("corr"),
        *(F.avg(c).alias(f"avg_{c}") for c in rubric.criteria),
        F.sum(F.when(F.col("consistent") == "true", 1).otherwise(0)).alias("consistent"),
        F.sum(F.when(F.col("consistent") == "false", 1).otherwise(0)).alias("inconsistent"),
        F.sum(F.when(F.col("inverted") == "true", 1).otherwise(0)).alias("inverted"),
        F.count(F.col("pair_unscored")).alias("pair_unscored"),
    ).collect()[0]
    unscored = {
        r["unscored"]: r["count"]
        for r in j.where(F.col("unscored").isNotNull()).groupBy("unscored").count().collect()
    }
    hist = {
        str(int(r["b"])): r["count"]
        for r in j.where(F.col("mean").isNotNull())
        .select(F.round("mean").alias("b"))
        .groupBy("b")
        .count()
        .collect()
    }
    corr = sums["corr"]
    return {
        "model": endpoint.model,
        "base_url": without_userinfo(endpoint.base_url),
        "rubric": rubric.name,
        "rubric_hash": rubric.digest,
        "threshold": jcfg.threshold,
        "requests": sums["calls"],
        "http_attempts": sums["http_attempts"],
        "retries": sums["retries"],
        "repair_requests": sums["repair_requests"],
        "cache_hits": sums["cache_hits"],
        "failures": {"request": sums["failures"], "parse": sums["parse_failures"]},
        "tokens": {
            "prompt": sums["prompt_tokens"],
            "completion": sums["completion_tokens"],
            "total": sums["prompt_tokens"] + sums["completion_tokens"],
        },
        "budget": {"requests": jcfg.budget_requests, "tokens": jcfg.budget_tokens},
        "scored": sums["scored"],
        "unscored": dict(sorted(unscored.items())),
        "mean_score": round(sums["mean"], 4) if sums["mean"] is not None else None,
        "criteria_mean": {
            c: (round(sums[f"avg_{c}"], 4) if sums[f"avg_{c}"] is not None else None) for c in rubric.criteria
        },
        "score_histogram": dict(sorted(hist.items())),
        # length bias: Pearson correlation of answer length (chars) and mean score over scored rows
        "length_score_correlation": round(corr, 4) if corr is not None and corr == corr else None,
        "position_bias": {
            "pairs_checked": sums["consistent"] + sums["inconsistent"],
            "consistent": sums["consistent"],
            "inconsistent": sums["inconsistent"],
            "inverted": sums["inverted"],
            "unscored": sums["pair_unscored"],
        },
    }


def _classifier_stats(out, ccfg) -> dict:
    from pyspark.sql import functions as F

    c = out.select(
        F.get_json_object("signals", "$.classifier.score").cast("double").alias("s"),
        F.get_json_object("signals", "$.classifier.int_score").alias("b"),
    ).where(F.col("s").isNotNull())
    agg = c.agg(
        F.count("s").alias("n"), F.avg("s").alias("mean"), F.min("s").alias("min"), F.max("s").alias("max")
    ).collect()[0]
    hist = {r["b"]: r["count"] for r in c.groupBy("b").count().collect()}
    return {
        "model": ccfg.model_path,
        "threshold": ccfg.threshold,
        "device": ccfg.device,
        "scored": agg["n"],
        "mean_score": round(agg["mean"], 4) if agg["mean"] is not None else None,
        "min_score": agg["min"],
        "max_score": agg["max"],
        "int_score_histogram": dict(sorted(hist.items())),
    }


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    from pyspark.sql import functions as F

    from include import storage
    from include.quality.cache import default_cache_uri
    from include.quality.judge import resolve_endpoint, same_family_warning
    from include.quality.rubric import load_rubric

    qcfg = cfg.quality
    jcfg, ccfg = qcfg.judge, qcfg.classifier
    ctx.details.update(
        judge_enabled=jcfg.enabled, classifier_enabled=ccfg.enabled, unscored_policy=qcfg.unscored_policy
    )
    df = read_parquet(spark, input_uri, cfg)
    if not (jcfg.enabled or ccfg.enabled):
        return StageOutput(df, None, note="judge and classifier disabled in config: pass-through")
    endpoint = cache_uri = rubric = None
    if jcfg.enabled:  # resolved here, before any work: a missing connection fails the stage at start
        endpoint = resolve_endpoint(jcfg)
        rubric = load_rubric(jcfg.rubric)
        cache_uri = jcfg.cache_uri or default_cache_uri(ctx.output_uri)
        warning = same_family_warning(jcfg.model, jcfg.base_model)
        if warning:
            log.warning("quality: %s", warning)
        ctx.details["same_family_warning"] = warning
        ctx.details["cache_uri"] = cache_uri
        log.info(
            "quality: judge %s at %s, rubric %s (%s), cache %s",
            endpoint.model,
            without_userinfo(endpoint.base_url),
            rubric.name,
            rubric.digest,
            cache_uri,
        )
    df = spread(df, spark)  # per-row Python work: every core gets rows
    parts = df.rdd.getNumPartitions()
    s3 = storage.endpoint_url(cfg.storage.s3_endpoint_url)
    out = scored(df, qcfg, endpoint, cache_uri, s3, parts)
    if jcfg.enabled:
        ctx.details["judge"] = _judge_stats(out, jcfg, endpoint, rubric)
    if ccfg.enabled:
        ctx.details["classifier"] = _classifier_stats(out, ccfg)
    ctx.details["flags"] = {
        r["flag"]: r["count"]
        for r in kept(out)
        .select(F.explode("flags").alias("flag"))
        .where(F.col("flag").isin(FLAG_UNSCORED, FLAG_INVERTED))
        .groupBy("flag")
        .count()
        .collect()
    }
    return split_decisions(out, "quality", drop=(INFO,))


if __name__ == "__main__":
    sys.exit(main("quality", run))
