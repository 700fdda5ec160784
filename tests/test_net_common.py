"""What every registered model must do: memory formats, autocast, torch.compile, gradients, input checks."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.benchmark.flops import count_flops, count_params
from bench.reference import MODELS
from lightning_modules.zoo import AuxHead, InceptionNet, create_model, get_model_info, list_models
from lightning_modules.zoo.checkpoint import CheckpointMismatchError

NAMES = list_models()


def create(name: str, aux: bool | None = None) -> tuple[torch.nn.Module, dict[str, bool]]:
    """``create_model(name)`` with ``aux_logits=aux`` where the model takes it; the model and the options used."""
    options = {} if aux is None else {"aux_logits": aux}
    try:
        return create_model(name, **options), options
    except TypeError:  # no aux option: the model has no aux head
        return create_model(name), {}


def build(name: str, aux: bool | None = None) -> torch.nn.Module:
    """The model of ``create``, with a 10-way classifier where it has one."""
    model, _ = create(name, aux)
    if isinstance(model, InceptionNet):
        model.reset_classifier(10)
    return model


def small_input(name: str, batch: int = 1, size: int | None = None) -> torch.Tensor:
    info = get_model_info(name)
    size = size or info.min_input_size
    return torch.randn(batch, info.in_chans, size, size, generator=torch.Generator().manual_seed(0))


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("name", NAMES)
def test_channels_last(name: str) -> None:
    model, x = build(name).eval(), small_input(name)
    with torch.no_grad():
        expected = model(x)
        actual = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    assert_close(actual, expected)


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast(name: str) -> None:
    model, x = build(name).eval(), small_input(name)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert torch.isfinite(out).all()
    if isinstance(model, InceptionNet):  # a block may concatenate a pass-through pool, which stays fp32
        assert out.dtype == torch.bfloat16


@pytest.mark.slow  # tracing takes 1-10 s per network
@pytest.mark.parametrize("name", NAMES)
def test_compile_aot_eager(name: str) -> None:
    torch._dynamo.reset()  # every model's forward is one code object: start below its recompile limit
    model, x = build(name).eval(), small_input(name)
    with torch.no_grad():
        assert_close(torch.compile(model, backend="aot_eager", fullgraph=True)(x), model(x))


@pytest.mark.parametrize("aux", [False, True], ids=["aux_off", "aux_on"])
@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient(name: str, aux: bool) -> None:
    """A training step with aux heads on (at the default size they need) or off: no unused parameters for DDP."""
    model = build(name, aux)
    aux_heads = [m for m in model.modules() if isinstance(m, AuxHead)]
    if aux and not aux_heads:
        pytest.skip(f"{name} has no aux head")
    x = small_input(name, batch=2, size=get_model_info(name).default_input_size if aux else None)
    out = model.train()(x)
    outputs = [out[0], *out[1]] if isinstance(out, tuple) else [out]
    assert len(outputs) == 1 + (len(aux_heads) if aux else 0)
    sum(o.float().square().mean() for o in outputs).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize("name", NAMES)
def test_reset_classifier(name: str) -> None:
    model = build(name, aux=True)
    if not isinstance(model, InceptionNet):
        pytest.skip(f"{name} has no classifier")
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.get_classifier().out_features == 7
    assert all(head.fc.out_features == 7 for head in model.modules() if isinstance(head, AuxHead))
    with torch.no_grad():
        assert model.eval()(small_input(name)).shape == (1, 7)


@pytest.mark.parametrize("name", NAMES)
def test_too_small_or_wrong_input_is_a_clear_error(name: str) -> None:
    info = get_model_info(name)
    model = build(name).eval()
    with pytest.raises(ValueError, match=f"at least {info.min_input_size}x{info.min_input_size}"):
        model(small_input(name, size=info.min_input_size - 1))
    with pytest.raises(ValueError, match=f"expects N x {info.in_chans} x H x W"):
        model(torch.zeros(1, info.in_chans + 1, info.default_input_size, info.default_input_size))
    assert info.min_input_size <= info.default_input_size


def test_published_figures_are_keyed_by_registry_name() -> None:
    assert set(MODELS) <= set(NAMES)


# Exact counts (ints) in bench.reference are recounts of released weights or of a paper's figures, not a paper's
# rounded figure: ours must match them.
RECOUNTED = [name for name, figures in MODELS.items() if isinstance(figures.params, int)]


@pytest.mark.parametrize("name", RECOUNTED)
def test_recounted_params_and_gmacs_match_the_reference(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name).eval()
    size = get_model_info(name).default_input_size
    assert count_params(model, aux=False) == MODELS[name].params
    x = torch.empty(1, 3, size, size, device="meta")
    assert round(count_flops(lambda: model(x)) / 2e9, 3) == MODELS[name].gmacs


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown model 'inception_v9'.*inception_v3"):
        create_model("inception_v9")


def test_mismatched_checkpoint_names_the_keys(tmp_path: Path) -> None:
    state = create_model("xception").state_dict()
    del state["fc.bias"]
    state["features.conv1.conv.weight"] = torch.zeros(1)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointMismatchError) as error:
        create_model("xception", weights=str(tmp_path / "bad.pt"))
    message = str(error.value)
    assert "missing keys: fc.bias" in message and "unexpected keys: extra.weight" in message
    assert "features.conv1.conv.weight: checkpoint (1,) vs model (32, 3, 3, 3)" in message


class Payload:
    """Any pickled object besides tensors: weights-only loading must refuse to build it."""


def test_pickled_objects_are_rejected(tmp_path: Path) -> None:
    torch.save({"fc.weight": torch.zeros(1), "payload": Payload()}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="weights-only"):
        create_model("xception", weights=str(tmp_path / "pickle.pt"))
    with pytest.raises(FileNotFoundError):
        create_model("xception", weights=str(tmp_path / "missing.pt"))


@pytest.mark.parametrize("name", NAMES)
def test_own_checkpoint_round_trip(name: str, tmp_path: Path) -> None:
    """A state_dict this project saved (wrapped as Lightning saves it) loads back, every tensor unchanged."""
    model, options = create(name, aux=True)
    state = model.state_dict()
    torch.save({"state_dict": {f"net.{k}": v for k, v in state.items()}}, tmp_path / "own.ckpt")
    loaded = create_model(name, weights=str(tmp_path / "own.ckpt"), **options).state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], v) for k, v in state.items())
