"""Registry name -> constructor, shared by configs (``model=<name>``), the harness and the tests."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from .base import ModelInfo
from .checkpoint import load_checkpoint

_T = TypeVar("_T", bound=Callable[..., nn.Module])
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, ModelInfo] = {}


def register_model(name: str, info: ModelInfo | None = None) -> Callable[[_T], _T]:
    """Register a constructor under ``name``; ``info`` defaults to the constructor's ``info`` attribute."""

    def decorator(constructor: _T) -> _T:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        model_info = info if info is not None else getattr(constructor, "info", None)
        if not isinstance(model_info, ModelInfo):
            raise TypeError(f"model {name!r} declares no ModelInfo")
        _REGISTRY[name] = constructor
        _INFO[name] = model_info
        return constructor

    return decorator


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(list_models())}")


def get_model_info(name: str) -> ModelInfo:
    _check_name(name)
    return _INFO[name]


def create_model(name: str, weights: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered model; ``weights`` is a timm / torchvision / inception-bench state_dict file."""
    _check_name(name)
    model = _REGISTRY[name](**kwargs)
    model.info = _INFO[name]
    if weights:
        load_checkpoint(model, weights)
    return model
