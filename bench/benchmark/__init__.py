"""task=benchmark: the timing protocols, cost figures and the benchmark task."""
