"""Config composition through Hydra's compose API: defaults, presets and every model config."""
from __future__ import annotations

from pathlib import Path

import hydra
import pytest

from lightning_modules.zoo import list_models

MODEL_CONFIGS = sorted(p.stem for p in (Path(__file__).parent.parent / "conf" / "model").glob("*.yaml"))


def test_default_config_is_the_tf_book_benchmark(compose_cfg) -> None:
    cfg = compose_cfg()
    assert cfg.task == "benchmark" and cfg.model.name == "googlenet" and cfg.logger.mode == "offline"
    assert (cfg.bench.burn_in, cfg.bench.steps, cfg.bench.mode) == (10, 100, "forward")
    assert cfg.model.num_classes == cfg.data.num_classes == 1000


def test_tf_book_inception_v3_preset_is_the_seed_protocol(compose_cfg) -> None:
    cfg = compose_cfg("experiment=tf_book_inception_v3")
    assert cfg.model.name == "inception_v3"
    assert (cfg.bench.batch_size, cfg.bench.input_size, cfg.bench.burn_in, cfg.bench.steps) == (32, 299, 10, 100)
    assert cfg.bench.mode == "forward"


def test_bench_presets_inherit_the_protocol(compose_cfg) -> None:
    assert compose_cfg("bench=train_step").bench.mode == "forward_backward"
    throughput = compose_cfg("bench=throughput").bench
    assert throughput.channels_last and throughput.precision == "bf16" and throughput.steps == 100


def test_every_registered_variant_has_a_config() -> None:
    assert set(list_models()) <= set(MODEL_CONFIGS)


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_every_model_config_instantiates_its_registered_model(compose_cfg, name: str) -> None:
    cfg = compose_cfg(f"model={name}", "data.num_classes=10")
    model = hydra.utils.instantiate(cfg.model)
    assert model.info.default_input_size >= model.info.min_input_size > 0
