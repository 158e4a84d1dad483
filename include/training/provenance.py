"""What a trained model records about the code that made it: code version and library versions."""

from __future__ import annotations

import os
import sys

#: the libraries whose versions metrics.json and the registry manifest record (pinned in
#: requirements-training.txt at the Airflow image's versions)
TRAINING_LIBRARIES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "bitsandbytes",
    "datasets",
    "tokenizers",
)


def code_version() -> str | None:
    """``$LLMOPS_CODE_VERSION`` (the training image's build arg), else the git commit of the code
    (``<sha>-dirty`` with uncommitted changes to tracked files); without git, the source hash curation
    uses (``include.publish.code_version``)."""
    import subprocess

    if (
        os.environ.get("LLMOPS_CODE_VERSION", "unknown") != "unknown"
    ):  # set by Dockerfile.training's build arg
        return os.environ["LLMOPS_CODE_VERSION"]
    from include.settings import REPO_ROOT as root

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=root
        )
        if sha.returncode == 0 and sha.stdout.strip():
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
                cwd=root,
            ).stdout.strip()
            return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from include.publish import code_version as source_hash

        return f"src-{source_hash()}"
    except Exception:  # noqa: BLE001
        return None


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`TRAINING_LIBRARIES` (``None`` when missing) and Python's."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in TRAINING_LIBRARIES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["python"] = sys.version.split()[0]
    return out
