"""Benchmark decontamination: n-gram overlap of training rows with evaluation sets.

``benchmarks`` loads the configured evaluation files and builds the hashed n-gram
index (once per run, on the driver); ``tokens`` turns text and code into tokens and
hashed n-grams; ``match`` finds, for a batch of rows, the benchmark item each row
overlaps most and whether the overlap meets the item's rule. Spark plumbing is in
``spark_jobs/decontaminate.py``.
"""
