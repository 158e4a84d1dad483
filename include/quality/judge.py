"""LLM-as-judge over canonical rows: rubric prompt, strict verdicts, cache, bias controls.

Per row the judge scores the answer the row trains on (final assistant turn, the chosen
completion, or a pretraining text) against the rubric; a verdict is kept only when it
parses strictly (:mod:`include.quality.parse`), after at most ``repair_retries`` re-asks.
Rows it cannot score are *unscored* with a reason (``unparseable``, ``budget_exhausted``,
``judge_error``, ``no_answer``), never passed as scored. Preference rows can also get a
pairwise verdict in both orders (position-bias check): only consistent verdicts count, and
a consistent verdict for the rejected completion marks the pair as inverted.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from include.config.quality import JudgeConfig
from include.process_cache import fingerprint, process_cached
from include.quality.cache import VerdictCache, cache_key, content_hash
from include.quality.client import Budget, BudgetExhausted, ChatClient, JudgeRequestError
from include.quality.parse import JudgeParseError, mean_score, parse_preference, parse_verdict
from include.quality.rubric import Rubric, load_rubric

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ endpoint and key


@dataclass(frozen=True)
class Endpoint:
    """Where the judge is; the key is excluded from repr (and so from logs and tracebacks)."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)


class JudgeConfigError(ValueError):
    """The judge endpoint cannot be resolved (names the setting to fix)."""


#: the judge URL resolved from the connection by the Airflow task, for the stage's subprocess
RESOLVED_BASE_URL_ENV = "LLMOPS_JUDGE_RESOLVED_BASE_URL"


def endpoint_env(cfg: JudgeConfig) -> dict[str, str]:
    """Environment for a stage subprocess that cannot see Airflow's connections (a connection
    kept only in the metadata database is visible to the task, not to its children): the
    resolved URL and the key under ``api_key_env``. Empty when no connection is used."""
    if not cfg.conn_id:
        return {}
    ep = resolve_endpoint(cfg)
    env = {RESOLVED_BASE_URL_ENV: ep.base_url}
    if ep.api_key:
        env[cfg.api_key_env] = ep.api_key
    return env


def resolve_endpoint(cfg: JudgeConfig) -> Endpoint:
    """Base URL and API key: config, then the Airflow connection ``conn_id`` (password = key;
    host or extra ``base_url`` = URL), then ``$<api_key_env>`` for the key."""
    import os

    from include.connections import airflow_connection

    where = cfg._where  # quality.judge | synthesize.generator
    base_url, key = cfg.base_url, None
    if cfg.conn_id:
        conn = airflow_connection(cfg.conn_id)
        handed_over = os.environ.get(RESOLVED_BASE_URL_ENV)  # resolved by the Airflow task (see endpoint_env)
        if conn is None and not handed_over:
            raise JudgeConfigError(f"{where}.conn_id: Airflow connection {cfg.conn_id!r} not found")
        if conn is not None:
            key = conn.password or (conn.extra_dejson or {}).get("api_key")
            if not base_url:
                base_url = (conn.extra_dejson or {}).get("base_url") or _conn_url(conn)
        base_url = base_url or handed_over
    key = key or os.environ.get(cfg.api_key_env) or None
    if not base_url:
        raise JudgeConfigError(f"{where}.base_url: not set and the connection gives no host")
    return Endpoint(base_url.rstrip("/"), cfg.model or "", key)


def _conn_url(conn) -> str | None:
    host = conn.host or ""
    if not host:
        return None
    if "://" not in host:
        scheme = conn.schema if conn.schema in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    if conn.port and host.count(":") < 2:
        scheme, rest = host.split("://", 1)
        head, sep, tail = rest.partition("/")
        host = f"{scheme}://{head}:{conn.port}{sep}{tail}"
    return host


# ------------------------------------------------------------------ same-family bias

_FAMILIES = (
    "llama",
    "qwen",
    "mistral",
    "mixtral",
    "gemma",
    "phi",
    "deepseek",
    "falcon",
    "gpt",
    "claude",
    "olmo",
    "smollm",
    "yi",
    "command",
    "granite",
    "internlm",
    "baichuan",
    "chatglm",
    "glm",
)
_ALIASES = {"mixtral": "mistral", "chatglm": "glm", "codellama": "llama", "vicuna": "llama"}


def model_family(name: str | None) -> str | None:
    """Family of a model id or path (``meta-llama/Llama-3.1-8B`` -> ``llama``), or None."""
    if not name:
        return None
    base = name.rstrip("/").split("/")[-1].lower()
    for token in re.split(r"[^a-z]+", base):
        token = _ALIASES.get(token, token)
        for fam in _FAMILIES:
            if token == fam or token.startswith(fam) and fam not in ("yi", "glm", "phi", "gpt"):
                return _ALIASES.get(fam, fam)
    return None


def shared_family(a: str | None, b: str | None) -> str | None:
    """The family of two models when it is one, else None."""
    fam = model_family(a)
    return fam if fam and fam == model_family(b) else None


def same_family_warning(judge_model: str | None, base_model: str | None) -> str | None:
    if fam := shared_family(judge_model, base_model):
        return (
            f"judge model {judge_model!r} and base model {base_model!r} are both {fam}: a judge tends to "
            "favour its own family's style (self-preference bias); prefer a judge from another family"
        )
    return None


# ------------------------------------------------------------------ what is judged


def _render_turns(msgs, with_roles: bool = True) -> str:
    parts = []
    for m in msgs or ():
        body = m.get("content") or ""
        for call in m.get("tool_calls") or ():
            body += ("\n" if body else "") + f"[tool call] {call.get('name')}({call.get('arguments')})"
        role = (m.get("role") or "").capitalize()
        parts.append(f"{role}: {body}" if with_roles else body)
    return "\n\n".join(parts)


def judge_view(row: dict, max_chars: int) -> tuple[str, str, str | None]:
    """``(conversation, answer, rejected_answer)`` of a canonical row, cut to ``max_chars`` each
    (the conversation keeps its end, the answers their start)."""
    system = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    rejected = None
    if row.get("kind") == "pretrain" or not (row.get("messages") or row.get("chosen")):
        conv, answer = "", row.get("text") or ""
    elif row.get("chosen"):
        conv = _render_turns(system + list(row.get("messages") or ()))
        answer = _render_turns(row["chosen"], with_roles=len(row["chosen"]) > 1)
        rejected = _render_turns(row.get("rejected"), with_roles=len(row.get("rejected") or ()) > 1) or None
    else:
        msgs = list(row.get("messages") or ())
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        if last is None:
            return _render_turns(system + msgs)[-max_chars:], "", None
        conv = _render_turns(system + msgs[:last])
        answer = _render_turns(msgs[last:], with_roles=len(msgs) - last > 1)
    return conv[-max_chars:], answer[:max_chars], (rejected[:max_chars] if rejected else None)


# ------------------------------------------------------------------ the judge


@dataclass
class JudgeResult:
    verdict: dict | None = None  #: {criterion: {"score", "why"}}
    mean: float | None = None  #: mean criterion score (1..5)
    unscored: str | None = None  #: reason code when no verdict
    detail: str | None = None
    cached: bool = False
    repaired: bool = False
    answer_chars: int = 0
    pair: dict | None = None  #: position-bias check of a preference pair
    tally: Counter = field(default_factory=Counter)  #: calls, tokens, cache hits ... for this row

    def signals(self, model: str, rubric: Rubric) -> dict:
        if self.verdict is None:
            out = {"unscored": self.unscored, "detail": self.detail}
        else:
            out = {"scores": self.verdict, "mean": round(self.mean, 4), "cached": self.cached}
        out.update(model=model, rubric=rubric.name, rubric_hash=rubric.digest)
        return out


class Judge:
    """Scores rows with one endpoint + rubric; thread-safe, built once per process."""

    def __init__(
        self, cfg: JudgeConfig, endpoint: Endpoint, cache_uri: str | None, s3_endpoint: str | None = None
    ):
        self.cfg, self.endpoint = cfg, endpoint
        self.rubric = load_rubric(cfg.rubric)
        self.client = ChatClient.from_config(cfg, endpoint)
        self.cache = VerdictCache(cache_uri, s3_endpoint) if cache_uri else None
        self._pool = ThreadPoolExecutor(max_workers=cfg.max_concurrency, thread_name_prefix="judge")

    def __repr__(self) -> str:
        return f"Judge({self.client!r}, rubric={self.rubric.name})"

    def score_rows(self, rows: list[dict], budget: Budget | None = None) -> list[JudgeResult]:
        """One result per row, in order; up to ``max_concurrency`` rows in flight."""
        budget = budget or Budget(self.cfg.budget_requests, self.cfg.budget_tokens)
        return list(self._pool.map(lambda r: self.score_row(r, budget), rows))

    def score_row(self, row: dict, budget: Budget) -> JudgeResult:
        conv, answer, rejected = judge_view(row, self.cfg.max_chars)
        res = JudgeResult(answer_chars=len(answer))
        if not answer.strip():
            res.unscored, res.detail = "no_answer", "the row has no answer to judge"
            return res
        try:
            got = self._ask(
                self.rubric.pointwise(conv, answer),
                ("pointwise", conv, answer),
                lambda t: parse_verdict(t, self.rubric.criteria),
                budget,
                res.tally,
            )
        except _Unscored as u:
            res.unscored, res.detail = u.reason, u.detail
            return res
        (res.verdict, res.cached, res.repaired) = (got["value"], got["cached"], got["repaired"])
        res.mean = mean_score(res.verdict)
        if self.cfg.position_bias_check and row.get("chosen") and rejected:
            res.pair = self._pair(conv, answer, rejected, budget, res.tally)
        return res

    def _pair(self, conv: str, chosen: str, rejected: str, budget: Budget, tally: Counter) -> dict:
        picks = []
        for a, b in ((chosen, rejected), (rejected, chosen)):
            try:
                got = self._ask(
                    self.rubric.pairwise(conv, a, b),
                    ("pairwise", conv, a, b),
                    lambda t: parse_preference(t),
                    budget,
                    tally,
                )
            except _Unscored as u:
                return {"unscored": u.reason, "detail": u.detail}
            picks.append(got["value"])
        chosen_first, chosen_second = picks[0] == "A", picks[1] == "B"
        consistent = chosen_first == chosen_second
        return {
            "chosen_first": picks[0],
            "chosen_second": picks[1],
            "consistent": consistent,
            "inverted": consistent and not chosen_first,
        }

    def _ask(self, messages: list[dict], content: tuple, parse, budget: Budget, tally: Counter) -> dict:
        """Cached value, else call (+ bounded repair re-asks); raises _Unscored."""
        key = cache_key(self.rubric.digest, self.endpoint.model, content_hash(*content))
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None and "value" in hit:
                tally.update(cache_hits=1)
                return {"value": hit["value"], "cached": True, "repaired": False}
        convo = list(messages)
        error = None
        for attempt in range(self.cfg.repair_retries + 1):
            try:
                out = self.client.complete(convo, budget, tally)
            except BudgetExhausted as exc:
                raise _Unscored("budget_exhausted", str(exc)) from None
            except JudgeRequestError as exc:
                raise _Unscored("judge_error", f"{exc.reason}: {exc.detail}"[:300]) from None
            try:
                value, repaired = parse(out.text)
            except JudgeParseError as exc:
                error = str(exc)
                tally.update(parse_failures=1)
                if attempt < self.cfg.repair_retries:
                    tally.update(repair_requests=1)
                    convo = [
                        *messages,
                        {"role": "assistant", "content": out.text[:2000]},
                        self.rubric.repair_message(error),
                    ]
                continue
            if self.cache is not None:
                self.cache.put(
                    key, {"value": value, "model": self.endpoint.model, "rubric": self.rubric.digest}
                )
            return {"value": value, "cached": False, "repaired": repaired or attempt > 0}
        raise _Unscored("unparseable", f"{error} (after {self.cfg.repair_retries + 1} answers)")


class _Unscored(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def get_judge(
    cfg: JudgeConfig, endpoint: Endpoint, cache_uri: str | None, s3_endpoint: str | None = None
) -> Judge:
    """The process-wide judge for these settings (built on first use, reused by every task)."""
    key = fingerprint(
        cfg,
        endpoint.base_url,
        endpoint.model,
        cache_uri,
        s3_endpoint,
        hashlib.sha256((endpoint.api_key or "").encode()).hexdigest(),
    )
    return process_cached("judge", key, lambda: Judge(cfg, endpoint, cache_uri, s3_endpoint))
