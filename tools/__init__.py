"""Developer tools, not part of the runtime: timing-honesty and reference comparisons (extra: dev)."""
