"""Networks (``nets``), the Lightning classifier and the data modules of inception-bench."""
