"""Synthetic instruction / answer pairs from seed examples (self-instruct), for ``synthesize_dataset``."""
