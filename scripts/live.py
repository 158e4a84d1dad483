"""``make up`` / ``make down``: the product under the real Airflow services, on embedded defaults.

``up`` starts, in the background and each in its own process group:

* a local S3-compatible server (moto) on 127.0.0.1 with the registry bucket (in memory: the
  registry lives as long as the services);
* ``airflow api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and ``triggerer``;

after building, once, the tiny local base model (``scripts/tiny_model.py``; tokenizer trained on
the bundled sample data, nothing downloaded). Every path is under ``$AIRFLOW_HOME`` (default
``<repo>/.airflow``): logs in ``logs/<service>.log``, curated datasets in ``llmops/curated_dataset``,
fine-tuning runs in ``llmops/finetune``, the model in ``llmops/models/tiny-llama``. The settings
the services share are written to ``llmops-live.env``. It returns once the API reports every
service healthy and the DAGs are parsed, and prints the URL and the login (SimpleAuthManager's
generated password file). ``down`` stops what ``up`` started (pid files in ``run/``).

    python scripts/live.py up [--port 8080] [--timeout 600]
    python scripts/live.py down
    python scripts/live.py prepare   # docker-compose's airflow-init: model + profile only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
DAG_IDS = ("curate_dataset", "finetune_adapter", "promote_adapter")
BUCKET = "llmops-adapters"
USER = "admin"
ENV_FILE = "llmops-live.env"


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or REPO / ".airflow").absolute()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_texts(folder: Path = REPO / "include" / "sample_data") -> list[str]:
    """Every string value of the bundled sample records: the tiny tokenizer's training text."""
    import gzip

    import pyarrow.parquet as pq

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    out: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".parquet":
            out += list(strings(pq.read_table(path).to_pylist()))
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for chunk in [text, *text.splitlines()]:  # a JSON document, else JSON lines (bad ones skipped)
            try:
                out += list(strings(json.loads(chunk)))
            except json.JSONDecodeError:
                continue
            if chunk is text:
                break
    return [t for t in out if t.strip()]


def live_env(home: Path, port: int, s3_port: int, secret: str) -> dict[str, str]:
    """The settings every service (and every task they run) shares."""
    llmops = home / "llmops"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__SECRET_KEY": secret,
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")]),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_ACCESS_KEY_ID": "llmops-local",
        "AWS_SECRET_ACCESS_KEY": "llmops-local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LLMOPS_LIVE_S3_PORT": str(s3_port),
        "LLMOPS_OUTPUT_URI": str(llmops / "curated_dataset"),
        "LLMOPS_FINETUNE_WORK_URI": str(llmops / "finetune"),
        "LLMOPS_REGISTRY_URI": f"s3://{BUCKET}/registry",
        "LLMOPS_BASE_MODEL": str(llmops / "models" / "tiny-llama"),
        "LLMOPS_TRAINING_PROFILES": str(llmops / "training_profiles.yaml"),
        # OpenLineage events of every task, to a local file (no network)
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "llmops-local",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(home / "openlineage" / "events.jsonl"), "append": True}
        ),
    }


def write_profiles(path: Path, env: dict[str, str]) -> None:
    """make up's training profile: every new dataset version -> the tiny model, LoRA SFT, demo settings."""
    import yaml

    from scripts.demo_finetune import HYPERPARAMETERS

    profile = {
        "match": "*",
        "base_model": env["LLMOPS_BASE_MODEL"],
        "method": "sft",
        "peft": "lora",
        "backend": "local",
        "registry_uri": env["LLMOPS_REGISTRY_URI"],
        "hyperparameters": HYPERPARAMETERS,
    }
    header = "# written by make up (scripts/live.py): the training profile of the local stack\n"
    path.write_text(header + yaml.safe_dump({"profiles": [profile]}, sort_keys=False))


def prepare(env: dict[str, str]) -> None:
    """What the chain needs before the services start: the tiny local base model (built once, at
    ``LLMOPS_BASE_MODEL``) and the training profile (``LLMOPS_TRAINING_PROFILES``). ``up`` calls it;
    docker-compose's ``airflow-init`` runs it as ``python scripts/live.py prepare``."""
    sys.path[:0] = [str(REPO)]
    from scripts.tiny_model import build_tiny_model

    model = build_tiny_model(env["LLMOPS_BASE_MODEL"], sample_texts())
    print(f"base model: {model} (tiny local Llama)")
    profiles = Path(env["LLMOPS_TRAINING_PROFILES"])
    profiles.parent.mkdir(parents=True, exist_ok=True)
    write_profiles(profiles, env)


def read_env(home: Path) -> dict[str, str]:
    path = home / ENV_FILE
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped by init, counts as stopped)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def start(name: str, cmd: list[str], env: dict[str, str], home: Path) -> int:
    log = (home / "logs" / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        cmd, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    (home / "run" / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def api(base: str, path: str, token: str | None = None, body: dict | None = None, method: str = "GET"):
    req = urllib.request.Request(base + path, method=method if body is None else (method or "POST"))
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data=data, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def password(home: Path, env: dict[str, str] | None = None) -> str:
    path = Path(
        (env or {}).get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
        or home / "simple_auth_manager_passwords.json.generated"
    )
    return json.loads(path.read_text())[USER]


def token(base: str, home: Path) -> str:
    return api(base, "/auth/token", body={"username": USER, "password": password(home)}, method="POST")[
        "access_token"
    ]


def wait_healthy(base: str, home: Path, deadline: float) -> str:
    """Poll the API until every service is healthy and the DAGs are parsed; return a token."""
    last = "api-server not answering"
    while time.time() < deadline:
        dead = [n for n in SERVICES + ("s3",) if not pid_alive(int((home / "run" / f"{n}.pid").read_text()))]
        if dead:
            raise SystemExit(f"{', '.join(dead)} exited; see {home / 'logs'}/<service>.log")
        try:
            health = api(base, "/api/v2/monitor/health")
            bad = [k for k in HEALTH_KEYS if (health.get(k) or {}).get("status") != "healthy"]
            if not bad:
                tok = token(base, home)
                dags = {d["dag_id"] for d in api(base, "/api/v2/dags?limit=100", tok)["dags"]}
                missing = [d for d in DAG_IDS if d not in dags]
                if not missing:
                    return tok
                last = f"DAGs not parsed yet: {', '.join(missing)}"
            else:
                last = f"not healthy yet: {', '.join(bad)}"
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            last = f"api-server not ready: {exc}"
        time.sleep(3)
    raise SystemExit(f"services not healthy in time ({last}); logs: {home / 'logs'}")


def up(port: int, timeout: float) -> int:
    home = airflow_home()
    for sub in ("logs", "run", "llmops/models", "openlineage"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    running = [
        n
        for n in SERVICES + ("s3",)
        if (p := home / "run" / f"{n}.pid").exists() and pid_alive(int(p.read_text()))
    ]
    if running:
        raise SystemExit(f"already running under {home}: {', '.join(running)} (make down first)")
    old = read_env(home)
    env_vars = live_env(
        home, port, free_port(), old.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_hex(16)
    )
    (home / ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in env_vars.items()))
    env = {**os.environ, **env_vars}
    os.environ.update(env_vars)

    prepare(env_vars)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True
    )
    (home / "logs" / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
    if migrate.returncode:
        raise SystemExit(f"airflow db migrate failed; see {home / 'logs' / 'db-migrate.log'}")

    s3_port = int(env_vars["LLMOPS_LIVE_S3_PORT"])
    start("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], env, home)
    for name in SERVICES:
        extra = ["--port", str(port)] if name == "api-server" else []
        start(name, [sys.executable, "-m", "airflow", name, *extra], env, home)
    deadline = time.time() + timeout
    s3 = env_vars["AWS_ENDPOINT_URL"]
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{s3}/{BUCKET}", method="PUT"), timeout=5)
            break
        except (urllib.error.URLError, OSError) as exc:
            if time.time() > deadline:
                raise SystemExit(f"S3 server at {s3} not answering: {exc}") from None
            time.sleep(1)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, home, deadline)
    print(f"Airflow UI: {base}  (login: {USER} / {password(home)}; password file under {home})")
    print(
        f"S3 registry: {env_vars['LLMOPS_REGISTRY_URI']} at {s3}; logs: {home / 'logs'}; outputs: {home / 'llmops'}"
    )
    print("stop with: make down")
    return 0


def down(grace: float = 30.0) -> int:
    home = airflow_home()
    pids = {}
    for pid_file in sorted((home / "run").glob("*.pid")):
        pids[pid_file.stem] = int(pid_file.read_text())
    for pid in pids.values():
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and any(pid_alive(p) for p in pids.values()):
        time.sleep(0.5)
    for name, pid in pids.items():
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            for _ in range(20):
                if not pid_alive(pid):
                    break
                time.sleep(0.25)
        (home / "run" / f"{name}.pid").unlink(missing_ok=True)
    print(f"stopped: {', '.join(pids) or 'nothing was running'} ({home})")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start the services in the background; return once healthy")
    u.add_argument("--port", type=int, default=int(os.environ.get("LLMOPS_UI_PORT", "8080")))
    u.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for health")
    sub.add_parser("down", help="stop what up started")
    sub.add_parser("prepare", help="build the tiny base model and the training profile from $LLMOPS_*")
    args = p.parse_args(argv)
    if args.cmd == "down":
        return down()
    if args.cmd == "prepare":
        prepare(dict(os.environ))
        return 0
    try:
        return up(args.port, args.timeout)
    except BaseException:
        down(grace=10)
        raise


if __name__ == "__main__":
    raise SystemExit(main())
