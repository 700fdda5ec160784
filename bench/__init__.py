"""The harness: the job life cycle (job/), one package per task (benchmark/, training/, report/) and the published reference figures."""
