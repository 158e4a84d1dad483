"""Where one ``finetune_adapter`` run keeps its files: together under ``<work_uri>/<run_id>/``::

plan.json  trainset/{train,eval}.jsonl,trainset.json  launch_config.json
model/ (adapter or full model, tokenizer, metrics.json, training_config.json)
sagemaker/<job>/output/model.tar.gz (backend sagemaker; unpacked into model/)
evaluation.json  registration.json  promotion.json

and, shared by all runs, ``<work_uri>/_tokenized/<key>/`` (tokenized SFT sets reused by key).
"""

from __future__ import annotations

from include import storage
from include.run import safe_run_id

#: the folder of ``work_uri`` holding tokenized sets shared by every run (``include.training.tokenized_set``)
TOKENIZED_CACHE = "_tokenized"
#: path key -> name inside the run folder
RUN_FILES = {
    "plan": "plan.json",
    "trainset": "trainset",
    "launch_config": "launch_config.json",
    "model": "model",
    "evaluation": "evaluation.json",
    "registration": "registration.json",
    "promotion": "promotion.json",
    "sagemaker": "sagemaker",
}


def run_paths(work_uri: str, run_id: str) -> dict:
    """``root`` (the run folder) and every entry of :data:`RUN_FILES` as a full URI."""
    root = storage.join(work_uri, safe_run_id(run_id))
    files = {key: storage.join(root, name) for key, name in RUN_FILES.items()}
    return {"root": root, **files, "tokenized_cache": storage.join(work_uri, TOKENIZED_CACHE)}
