"""Great Expectations gate of the curated dataset: row checks, the suite, the report."""
