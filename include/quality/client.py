"""A small client for OpenAI-compatible ``/chat/completions`` endpoints (plain ``httpx``).

* bounded concurrency: a semaphore per client (one client per executor process);
* retries with exponential backoff on 429, 5xx, timeouts and connection errors
  (``Retry-After`` is honoured, capped by ``max_backoff_s``); other 4xx fail at once;
* a :class:`Budget` of calls and tokens shared by every call of the client;
* counters (calls, HTTP attempts, retries, tokens, failures) for ``stats.json``.

The API key is sent as ``Authorization: Bearer``; it is kept out of ``repr``, logs and errors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class JudgeRequestError(RuntimeError):
    """A call failed for good (retries exhausted or a non-retryable status); ``reason`` is a code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class BudgetExhausted(RuntimeError):
    """The run's request or token budget is spent."""


@dataclass
class Budget:
    """Calls and tokens left (None = unlimited). Thread-safe; a call is reserved before it is sent."""

    requests: int | None = None
    tokens: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self) -> None:
        with self._lock:
            if self.tokens is not None and self.tokens <= 0:
                raise BudgetExhausted("token budget spent")
            if self.requests is not None:
                if self.requests <= 0:
                    raise BudgetExhausted("request budget spent")
                self.requests -= 1

    def spend_tokens(self, n: int) -> None:
        if self.tokens is not None:
            with self._lock:
                self.tokens -= n


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatClient:
    """``complete(messages)`` against ``<base_url>/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        max_concurrency: int = 4,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 60.0,
        max_tokens: int = 400,
        temperature: float = 0.0,
        json_mode: bool = False,
        budget: Budget | None = None,
    ):
        import httpx

        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.max_retries, self.backoff_s, self.max_backoff_s = max_retries, backoff_s, max_backoff_s
        self.max_tokens, self.temperature, self.json_mode = max_tokens, temperature, json_mode
        self.budget = budget or Budget()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_concurrency),
        )
        self._lock = threading.Lock()
        self.counters: Counter = Counter()

    @classmethod
    def from_config(cls, cfg, endpoint, budget: Budget | None = None) -> ChatClient:
        """The client of a ``ChatEndpointConfig`` (judge, generator) at its resolved ``Endpoint``."""
        return cls(
            endpoint.base_url,
            endpoint.model,
            endpoint.api_key,
            max_concurrency=cfg.max_concurrency,
            max_retries=cfg.max_retries,
            backoff_s=cfg.backoff_s,
            max_backoff_s=cfg.max_backoff_s,
            timeout_s=cfg.timeout_s,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            json_mode=cfg.json_mode,
            budget=budget,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"ChatClient(url={self.url!r}, model={self.model!r})"

    def _count(self, tally: Counter | None = None, **kw) -> None:
        with self._lock:
            self.counters.update(kw)
            if tally is not None:
                tally.update(kw)

    def close(self) -> None:
        self._http.close()

    def complete(
        self, messages: list[dict], budget: Budget | None = None, tally: Counter | None = None
    ) -> Completion:
        """One chat completion; raises BudgetExhausted or JudgeRequestError.

        ``budget`` (default: the client's) is charged one call up front and the tokens used;
        ``tally`` additionally receives this call's counters (per record statistics).
        """
        budget = budget or self.budget
        budget.reserve()
        self._count(tally, calls=1)
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": False,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        with self._slots:
            resp = self._post(body, tally)
        try:
            data = resp.json()
            text = data["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError):
            self._count(tally, failures=1)
            raise JudgeRequestError(
                "bad_response", f"HTTP {resp.status_code}: not a chat completion"
            ) from None
        usage = data.get("usage") or {}
        out = Completion(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        self._count(tally, prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens)
        budget.spend_tokens(out.prompt_tokens + out.completion_tokens)
        return out

    def _post(self, body: dict, tally: Counter | None):
        import httpx

        attempt = 0
        while True:
            self._count(tally, http_attempts=1)
            retry_after = None
            try:
                resp = self._http.post(self.url, json=body)
                if resp.status_code < 400:
                    return resp
                problem = f"HTTP {resp.status_code}"
                if resp.status_code not in RETRY_STATUS:
                    self._count(tally, failures=1)
                    raise JudgeRequestError("http_error", f"{problem}: {resp.text[:200]}")
                retry_after = _retry_after(resp.headers.get("retry-after"))
            except httpx.TimeoutException:
                problem = "timeout"
            except httpx.TransportError as exc:
                problem = f"connection error ({type(exc).__name__})"
            if attempt >= self.max_retries:
                self._count(tally, failures=1)
                raise JudgeRequestError("retries_exhausted", f"{problem} after {attempt + 1} attempts")
            delay = min(
                self.max_backoff_s, retry_after if retry_after is not None else self.backoff_s * 2**attempt
            )
            log.info(
                "judge endpoint: %s; retry %d/%d in %.2fs", problem, attempt + 1, self.max_retries, delay
            )
            self._count(tally, retries=1)
            time.sleep(delay)
            attempt += 1


def without_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (safe to log and store)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
