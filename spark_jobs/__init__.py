"""spark-submit entry points: one module per curation stage (see common.main)."""
