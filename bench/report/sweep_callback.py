"""The end-of-sweep report as a Hydra callback, kept light: Hydra builds its callbacks for every run, a
refused one included, so the report's own imports (pandas, plotly) load only when a sweep ends."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from contracts.errors import ConfigError

log = logging.getLogger(__name__)


class ReportCallback(Callback):
    """Hydra callback: report a sweep into ``<sweep dir>/report`` when the multirun ends.

    Hydra skips ``on_multirun_end`` when a job raised; run.py records failures instead of raising, so
    failed jobs still get here. ``python run.py task=report`` makes the same report on its own.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from bench.report.task import make_report, targets

        sweep_dir = Path(config.hydra.sweep.dir)
        if not self.enabled or not sweep_dir.is_dir():
            return
        try:
            make_report([sweep_dir], sweep_dir / "report", targets(config.report))
        except ConfigError as exc:  # e.g. nothing recorded: say so, the sweep itself went fine
            log.warning("no sweep report: %s", exc)
