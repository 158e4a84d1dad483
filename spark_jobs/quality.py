"""Stage ``quality``: classifier scoring and LLM-as-judge scoring (see ``include.quality``).

Off by default (judge and classifier disabled): rows pass through unchanged. Otherwise,
per Arrow batch in the executors (judge client and classifier built once per process):

1. classifier (if on): ``score`` < ``threshold`` -> rejects ``low_quality_classifier``;
2. judge (if on) on the rest: mean criterion score / 5 < ``threshold`` -> rejects
   ``low_quality`` (detail lists the scores); rows the judge cannot score are kept with
   flag ``quality_unscored`` or rejected as ``unscored`` (``unscored_policy``).

``quality`` = judge mean / 5 when the judge scored the row, else classifier score / 5
(clipped to 0..1). ``signals`` (JSON) gains ``judge`` (scores and justifications, or the
unscored reason), ``judge_pair`` (position-bias check) and ``classifier``. ``stats.json``
details: requests, tokens, cache hits, failures, score distributions, the length-score
correlation, position-bias counts and the same-family warning.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark_jobs.common import StageOutput, as_rejects, main, read_parquet, spread

log = logging.getLogger("spark_jobs.quality")
REASON, DETAIL, INFO = "_q_reason", "_q_detail", "_q_info"
FLAG_UNSCORED, FLAG_INVERTED = "quality_unscored", "judge_inverted_pair"
INFO_KEYS = (
    "calls",
    "http_attempts",
    "retries",
    "prompt_tokens",
    "completion_tokens",
    "cache_hits",
    "failures",
    "parse_failures",
    "repair_requests",
)


def _partition_share(total: int | None, n: int, pid: int) -> int | None:
    """This partition's even share of a run budget (the shares add up to ``total``)."""
    if total is None:
        return None
    return total // n + (1 if pid < total % n else 0)


def scored(df, qcfg, endpoint, cache_uri: str | None, s3_endpoint: str | None, partitions: int):
    """``df`` with ``quality``, ``flags``, ``signals`` set and the decision's reason/detail/info columns."""
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    drop = ("quality", "flags", "signals")
    base = [f for f in df.schema.fields if f.name not in drop]
    schema = T.StructType(
        [
            *base,
            T.StructField("quality", T.DoubleType(), True),
            T.StructField("flags", T.ArrayType(T.StringType()), True),
            T.StructField("signals", T.StringType(), True),
            *(T.StructField(c, T.StringType(), True) for c in (REASON, DETAIL, INFO)),
        ]
    )
    arrow = to_arrow_schema(schema)
    jcfg, ccfg, policy = qcfg.judge, qcfg.classifier, qcfg.unscored_policy

    def evaluate(batches):
        from pyspark import TaskContext

        from include.quality import classifier as qclf
        from include.quality.client import Budget
        from include.quality.judge import get_judge

        judge = (
            get_judge(jcfg, endpoint, cache_uri, s3_endpoint) if jcfg.enabled else None
        )  # once per process
        pid = TaskContext.get().partitionId() if TaskContext.get() else 0
        budget = Budget(
            _partition_share(jcfg.budget_requests, partitions, pid),
            _partition_share(jcfg.budget_tokens, partitions, pid),
        )
        for batch in batches:
            rows = batch.to_pylist()
            out = []
            for r in rows:
                sig = r.get("signals")
                r["signals"] = json.loads(sig) if sig else {}
                r["flags"] = list(r.get("flags") or [])
                r[REASON] = r[DETAIL] = None
                r["_info"] = {}
            if ccfg.enabled:
                for r, s in zip(
                    rows, qclf.score_texts(ccfg, [qclf.classifier_input(r, ccfg) for r in rows]), strict=True
                ):
                    r["signals"]["classifier"] = {"score": round(s, 4), "int_score": qclf.int_score(s)}
                    r["quality"] = max(0.0, min(s / 5.0, 1.0))
                    if s < ccfg.threshold:
                        r[REASON] = "low_quality_classifier"
                        r[DETAIL] = f"classifier score {s:.2f} < {ccfg.threshold}"
            if judge is not None:
                todo = [r for r in rows if r[REASON] is None]
                for r, res in zip(todo, judge.score_rows(todo, budget), strict=True):
                    r["signals"]["judge"] = res.signals(endpoint.model, judge.rubric)
                    r["_info"] = {
                        **{k: res.tally.get(k, 0) for k in INFO_KEYS},
                        "answer_chars": res.answer_chars,
                    }
                    if res.pair is not None:
                        r["signals"]["judge_pair"] = res.pair
                        if res.pair.get("inverted"):
                            r["flags"].append(FLAG_INVERTED)
                    if res.verdict is None:
                        if policy == "reject":
                            r[REASON], r[DETAIL] = "unscored", f"judge: {res.unscored}: {res.detail}"[:500]
                        else:
                            r["flags"].append(FLAG_UNSCORED)
                        continue
                    r["quality"] = res.mean / 5.0
                    if r["quality"] < jcfg.threshold:
                        scores = ", ".join(f"{c} {v['score']}" for c, v in res.verdict.items())
                        r[REASON] = "low_quality"
                        r[DETAIL] = (
                            f"judge mean {res.mean:.2f}/5 = {res.mean / 5:.2f} < {jcfg.threshold}: {scores}"
                        )
            for r in rows:
                r["signals"] = (
                    json.dumps(r["signals"], sort_keys=True, ensure_ascii=False) if r["signals"] else None
                )
                r["flags"] = list(dict.fromkeys(r["flags"])) or None
                r[INFO] = json.dumps(r.pop("_info")) if r.get("_info") else None
                out.append(r)
            yield pa.RecordBatch.from_pylist(out, schema=arrow)

    return df.mapInArrow(evaluate, schema)


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
        "base_url": _without_userinfo(endpoint.base_url),
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


def _without_userinfo(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


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
    from pyspark import StorageLevel
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
            _without_userinfo(endpoint.base_url),
            rubric.name,
            rubric.digest,
            cache_uri,
        )
    df = spread(df, spark)  # per-row Python work: every core gets rows
    parts = df.rdd.getNumPartitions()
    s3 = storage.endpoint_url(cfg.storage.s3_endpoint_url)
    out = scored(df, qcfg, endpoint, cache_uri, s3, parts).persist(StorageLevel.MEMORY_AND_DISK)
    if jcfg.enabled:
        ctx.details["judge"] = _judge_stats(out, jcfg, endpoint, rubric)
    if ccfg.enabled:
        ctx.details["classifier"] = _classifier_stats(out, ccfg)
    ctx.details["flags"] = {
        r["flag"]: r["count"]
        for r in out.where(F.col(REASON).isNull())
        .select(F.explode("flags").alias("flag"))
        .where(F.col("flag").isin(FLAG_UNSCORED, FLAG_INVERTED))
        .groupBy("flag")
        .count()
        .collect()
    }
    curated = out.where(F.col(REASON).isNull()).drop(REASON, DETAIL, INFO)
    rejects = as_rejects(out.where(F.col(REASON).isNotNull()), "quality", F.col(REASON), F.col(DETAIL))
    return StageOutput(curated, rejects)


if __name__ == "__main__":
    sys.exit(main("quality", run))
