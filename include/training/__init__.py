"""Training core: training-set builder, chat templates, methods (SFT, reward, DPO, GRPO), GPU memory
planner and the entry point ``python -m include.training.train --config FILE`` every backend runs.

Importing this package is cheap (no torch/transformers at import time)."""
