"""Training core, one job per module:

* ``dataset`` (canonical rows -> training set) and ``tokenization`` (chat template, tokens);
* ``devices`` (CUDA/CPU, dtypes, 4-bit probe), ``models`` (loading), ``methods`` (one trl trainer
  builder per method: SFT, reward, DPO, GRPO);
* ``model_shape`` and ``planner`` (GPU memory plan), ``metrics``, ``evaluate`` (gate, lineage),
  ``provenance`` (code and library versions), ``run_files`` (a DAG run's files);
* ``backends`` (where training runs: validation and launch specs) and ``train``, the entry point
  ``python -m include.training.train --config FILE`` every backend runs.

Importing this package is cheap (no torch/transformers at import time)."""
