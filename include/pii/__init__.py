"""PII scrubbing with Presidio: engines cached per process, recognizers, operators, record policy."""
