"""``make demo``, second half: fine-tune a LoRA adapter on the curated demo data and register it.

1. finds the curated/ folder of the dataset version curate_dataset published last under
   ``--demo-output`` (``_latest``), or takes ``--dataset-uri``;
2. builds a tiny local model: a 2-layer Llama (hidden 64) and a byte-level BPE tokenizer
   trained with ``tokenizers`` on the curated texts (no downloads);
3. starts a local S3-compatible server (moto, 127.0.0.1, random port) and a bucket;
4. runs the ``finetune_adapter`` DAG for real (``airflow dags test``) with the local backend;
5. prints the registered version and its manifest path, keeps a copy of the manifest next to
   the run files, and stops the server.

    python scripts/demo_finetune.py [--demo-output DIR | --dataset-uri URI] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO), str(REPO / "plugins")) if p not in sys.path]

from include import storage  # noqa: E402

BUCKET = "llmops-demo"
ADAPTER = "demo-tiny-llama-sft-lora"
HYPERPARAMETERS = {
    "train": {
        "max_steps": 12,
        "learning_rate": 5e-3,
        "per_device_train_batch_size": 2,
        "seed": 42,
        "logging_steps": 1,
    },
    "data": {"max_length": 512, "eval_fraction": 0.2},
}


def curated_from_demo(demo_output: str) -> str:
    """The curated/ folder of the dataset version curate_dataset published last (``_latest``)."""
    from include.publish import current_version, version_dir

    version = current_version(demo_output)
    if not version:
        raise SystemExit(
            f"no published dataset version under {demo_output} (run curate_dataset first, "
            "or pass --dataset-uri)"
        )
    return storage.join(version_dir(demo_output, version), "curated")


def dataset_texts(dataset_uri: str) -> list[str]:
    from include.training.dataset import read_canonical

    rows = read_canonical(dataset_uri)
    texts = [r["text"] for r in rows if r.get("text")]
    texts += [m.get("content") or "" for r in rows for m in (r.get("messages") or [])]
    texts += [r["tools"] for r in rows if r.get("tools")]
    return [t for t in texts if t]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--demo-output", default=str(REPO / "output" / "demo"), help="curate_dataset output_uri")
    p.add_argument(
        "--dataset-uri", help="canonical Parquet folder (default: newest curated/ under --demo-output)"
    )
    p.add_argument(
        "--work", default=None, help="where the tiny model and run files go (default: <demo-output>/finetune)"
    )
    args = p.parse_args(argv)

    dataset_uri = args.dataset_uri or curated_from_demo(args.demo_output)
    work = Path(args.work or Path(args.demo_output) / "finetune").absolute()
    work.mkdir(parents=True, exist_ok=True)

    from scripts.tiny_model import build_tiny_model

    texts = dataset_texts(dataset_uri)
    model_dir = build_tiny_model(work / "tiny-llama", texts)
    print(f"tiny model: {model_dir} (2-layer Llama, tokenizer trained on {len(texts)} curated texts)")

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per S3 request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = dict(
            os.environ,
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="demo",
            AWS_SECRET_ACCESS_KEY="demo",
            AWS_DEFAULT_REGION=storage.DEFAULT_REGION,
            HF_HUB_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
        )
        env["PYTHONPATH"] = os.pathsep.join(
            dict.fromkeys(
                filter(None, [str(REPO), str(REPO / "plugins"), *env.get("PYTHONPATH", "").split(os.pathsep)])
            )
        )
        os.environ.update(
            {
                k: env[k]
                for k in (
                    "AWS_ENDPOINT_URL",
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_DEFAULT_REGION",
                )
            }
        )
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        registry_uri = f"s3://{BUCKET}/registry"
        run_work = work / "runs"
        conf = {
            "dataset_uri": dataset_uri,
            "base_model": str(model_dir),
            "method": "sft",
            "peft": "lora",
            "backend": "local",
            "registry_uri": registry_uri,
            "adapter_name": ADAPTER,
            "hyperparameters": HYPERPARAMETERS,
            "work_uri": str(run_work),
            "aws_conn_id": "",
        }
        log_path = work / "finetune_adapter.log"
        print(f"local S3 server: {endpoint}; running finetune_adapter (log: {log_path}) ...")
        started = time.time()
        with log_path.open("w") as log:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "airflow",
                    "dags",
                    "test",
                    "finetune_adapter",
                    "--conf",
                    json.dumps(conf),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if proc.returncode != 0:
            print("\n".join(log_path.read_text().splitlines()[-60:]))
            print(f"finetune_adapter failed (exit {proc.returncode}); see {log_path}", file=sys.stderr)
            return 1
        from include.training.run_files import RUN_FILES

        registrations = sorted(
            run_work.glob(f"*/{RUN_FILES['registration']}"), key=lambda f: f.stat().st_mtime
        )
        if not registrations:
            print(f"finetune_adapter finished but registered nothing; see {log_path}", file=sys.stderr)
            return 1
        reg = json.loads(registrations[-1].read_text())
        run_dir = registrations[-1].parent
        from include.registry import AdapterRegistry

        manifest = AdapterRegistry(registry_uri, endpoint_url=endpoint).get(ADAPTER, reg["version"])
        copy = run_dir / "registered_manifest.json"
        copy.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        m = manifest["metrics"]
        print(
            f"finetune_adapter: sft/lora on {m['train_examples']} train / {m['eval_examples']} eval examples "
            f"in {time.time() - started:.0f}s"
        )
        print(
            f"  train loss {m['train_loss']:.3f}; eval loss {m['eval_loss']:.3f} (base model "
            f"{m['base_eval_loss']:.3f}); {m['pct_tokens_trained']}% of tokens trained (assistant turns)"
        )
        print(
            f"  memory plan: {manifest['plan']['required_gb']} GB -> {manifest['plan']['gpu']} "
            f"({manifest['plan']['sagemaker_instance']})"
        )
        print(f"registered {ADAPTER} v{reg['version']} ({'new' if reg['created'] else 'existing'} version)")
        print(f"  manifest: {reg['manifest_uri']}")
        print(f"  copy:     {copy}")
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
