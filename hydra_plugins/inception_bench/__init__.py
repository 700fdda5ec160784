"""inception-bench's Hydra launchers: Hydra's own, with a sweep that stops like a single job (``bench.job.sweep``)."""
