"""inception-bench entry point: ``python run.py [task=benchmark|train|eval|report] model=... [-m sweeps]``."""
from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bench.tasks import run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    record = run_task(cfg, HydraConfig.get().runtime.output_dir)
    if record["status"] != "ok":
        print(f"error: {cfg.task} {record['status']}: {record['error']} (record: {record.get('out_dir')})", file=sys.stderr)
        if str(HydraConfig.get().mode) != "RunMode.MULTIRUN":
            sys.exit(1)  # a sweep goes on; its report shows the failed job's status
    return record.get(cfg.get("optimized_metric") or "", None)


if __name__ == "__main__":
    main()
