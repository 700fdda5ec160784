"""The training job's callbacks, built from the ``callbacks`` config group (conf/callbacks/).

lightning-hydra-template's pattern: one ``_target_`` entry per callback, instantiated in order. What only the
job knows is passed in ``runtime`` and fills the arguments the config leaves ``null`` under that name; an
entry whose required argument is still ``null`` is left out (a time-to-target callback without a target,
the stop-signal callback outside a job's life cycle).
"""
from __future__ import annotations

import inspect
import logging
from typing import Any

from hydra.utils import get_object, instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from contracts.errors import ConfigError, config_error_from

log = logging.getLogger(__name__)


def _required(target: Any) -> list[str]:
    """The constructor arguments ``target`` cannot do without."""
    params = inspect.signature(target).parameters.values()
    return [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def build_callbacks(spec: DictConfig | None, runtime: dict[str, Any]) -> list[Callback]:
    """One callback per non-null entry of ``spec``; ``runtime`` fills the entries' ``null`` arguments of its names."""
    callbacks: list[Callback] = []
    for name, entry in (spec or {}).items():
        if entry is None:
            continue  # callbacks.<name>=null: left out
        where = f"callbacks.{name}"
        if not isinstance(entry, DictConfig) or "_target_" not in entry:
            raise ConfigError(f"{where} must be null or a mapping with a _target_ (a Lightning Callback class), "
                              f"got {OmegaConf.to_container(entry) if isinstance(entry, DictConfig) else entry!r}")
        try:
            target = get_object(entry._target_)
        except Exception as exc:  # noqa: BLE001 - Hydra raises ImportError or its own error for a bad path
            raise ConfigError(f"{where}._target_ {entry._target_!r} cannot be imported: {str(exc).splitlines()[0]}") from None
        given = {k: runtime[k] for k, v in entry.items() if v is None and k in runtime}
        unset = [k for k in _required(target) if {**entry, **given}.get(k) is None]
        if unset:
            log.debug("%s left out: %s not set", where, ", ".join(unset))
            continue
        try:
            callback = instantiate(entry, **given)
        except Exception as exc:  # noqa: BLE001 - the constructor's own check becomes one line naming the entry
            error = config_error_from(exc)
            if error is None:
                raise
            raise ConfigError(f"{where}: {error}") from None
        if not isinstance(callback, Callback):
            raise ConfigError(f"{where}._target_ {entry._target_} is not a Lightning Callback")
        callbacks.append(callback)
    return callbacks
