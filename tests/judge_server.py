"""Real HTTP servers on 127.0.0.1 for judge tests: a scripted OpenAI-compatible endpoint and
``transformers serve`` with a tiny local model (both reached over real sockets)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _verdict(score: int, why: str = "fine") -> str:
    return json.dumps(
        {c: {"score": score, "why": why} for c in ("relevance", "clarity", "completeness", "accuracy")}
    )


def rubric_answer(messages: list[dict]) -> str:
    """A deterministic 'judge': pointwise answers score 5 when the answer contains GOOD, 2 when
    BAD, 4 otherwise; GARBLE yields prose; pairwise prefers the answer with GOOD, or 'A' always
    when an answer contains ORDER (a position-biased judge)."""
    prompt = messages[-1]["content"] if messages[-1]["role"] == "user" else ""
    first = next(m["content"] for m in messages if m["role"] == "user")
    if "<answer_a>" in first:
        a = re.search(r"<answer_a>(.*?)</answer_a>", first, re.S).group(1)
        b = re.search(r"<answer_b>(.*?)</answer_b>", first, re.S).group(1)
        if "ORDER" in a + b:
            return '{"better": "A", "why": "first one"}'
        return json.dumps({"better": "A" if "GOOD" in a else "B", "why": "more helpful"})
    answer = re.search(r"<answer>(.*?)</answer>", first, re.S).group(1)
    if "GARBLE" in answer:
        return "I think this answer is quite nice overall!"
    if "FENCED" in answer:  # repairable: fenced JSON with prose around it
        return "Sure, here is my verdict:\n```json\n" + _verdict(5) + "\n```"
    if "REPAIR" in answer and "could not be used" not in prompt:  # fixed after one re-ask
        return "relevance: 5, clarity: 5"
    return _verdict(5 if "GOOD" in answer else 2 if "BAD" in answer else 4)


class ScriptedJudge:
    """``ThreadingHTTPServer`` answering POST /v1/chat/completions.

    ``script``: a list of HTTP statuses to return first (e.g. ``[429, 200]``); after it runs out
    every request gets 200 with ``answer(body)`` (default: :func:`rubric_answer` of the
    messages). Every request is recorded.
    """

    def __init__(
        self,
        script: list[int] | None = None,
        retry_after: str | None = None,
        answer: Callable[[dict], str] | None = None,
    ):
        self.answer = answer or (lambda body: rubric_answer(body["messages"]))
        self.script = list(script or [])
        self.retry_after = retry_after
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append(
                        {
                            "path": self.path,
                            "auth": self.headers.get("Authorization"),
                            "body": body,
                            "t": time.monotonic(),
                        }
                    )
                    status = outer.script.pop(0) if outer.script else 200
                if status != 200:
                    self.send_response(status)
                    if outer.retry_after is not None:
                        self.send_header("Retry-After", outer.retry_after)
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "try later"}}')
                    return
                text = outer.answer(body)
                data = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text},
                            }
                        ],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                    }
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data.encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def tiny_chat_model(out_dir: Path, datasets: Path) -> Path:
    """The tiny 2-layer Llama of scripts/tiny_model.py plus the shipped chat template (serve needs one)."""
    from transformers import AutoTokenizer

    from include.training.tokenization import DEFAULT_TEMPLATE, TEMPLATES_DIR
    from scripts.tiny_model import build_from_datasets

    path = build_from_datasets(out_dir, datasets)
    if not (path / "chat_template.jinja").exists():
        tok = AutoTokenizer.from_pretrained(path)
        tok.chat_template = (TEMPLATES_DIR / f"{DEFAULT_TEMPLATE}.jinja").read_text()
        tok.save_pretrained(path)
    return path


class TransformersServe:
    """``transformers serve MODEL`` on a free 127.0.0.1 port; waits for /health."""

    def __init__(self, model_dir: Path, log_file: Path):
        self.model = str(model_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_file = log_file
        self.proc = None

    def __enter__(self):
        exe = Path(sys.executable).with_name("transformers")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self._log = open(self.log_file, "wb")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                self.model,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--device",
                "cpu",
                "--default-seed",
                "0",
                "--log-level",
                "warning",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {self.log_file.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError("transformers serve did not become ready in 120 s")

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()
