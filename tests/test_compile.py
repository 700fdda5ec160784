"""The harness's own GPU switches on the CPU: bench.tf32 and bench.cudnn_benchmark (validated, in force for
the job, recorded, restored), the first call timed apart (compilation never in the timed steps), and a fresh
Dynamo per compiled job (a multirun in one process must not reach the recompile limit and run eagerly)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.benchmark import flops
from contracts.config_errors import one_line
from helpers import TEST_NET, TINY_BENCH
from run import run_task


@pytest.mark.parametrize("override", ["bench.tf32=maybe", "bench.cudnn_benchmark=fast"])
def test_bad_switches_are_refused_at_composition_in_one_line(compose_cfg, override: str) -> None:
    """Typed booleans in the schema: a value that is not one fails composition, and says so in one line."""
    with pytest.raises(Exception) as failed:
        compose_cfg(*TEST_NET, *TINY_BENCH, override)
    line = one_line(failed.value)
    assert line is not None and "\n" not in line and override.split("=")[0] in line and "bool" in line.lower()


def test_switches_are_in_force_for_the_job_recorded_and_restored(compose_cfg, tmp_path: Path) -> None:
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    default = run_task(compose_cfg(*TEST_NET, *TINY_BENCH), tmp_path / "default")
    # the default is timm's benchmark.py: TF32 for convolutions and matmuls, cuDNN's autotuner on
    assert (default["tf32_conv"], default["tf32_matmul"], default["cudnn_benchmark"]) == (True, True, True)
    assert default["tf32_ran"] is False and default["peak_precision"] == "fp32"  # a CPU never runs TF32
    off = run_task(compose_cfg(*TEST_NET, *TINY_BENCH, "bench.tf32=false", "bench.cudnn_benchmark=false"),
                   tmp_path / "off")
    assert off["status"] == "ok" and (off["tf32_conv"], off["tf32_matmul"], off["cudnn_benchmark"]) == (False,) * 3
    after = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    assert after == before


def test_tf32_and_the_peak_it_is_measured_against_follow_the_switch() -> None:
    assert flops.runs_tf32("fp32", True, 9) and flops.runs_tf32("fp32", True, 8)
    assert not flops.runs_tf32("fp32", False, 9)  # bench.tf32=false: strict fp32
    assert not flops.runs_tf32("fp32", True, 7)  # Volta has no TF32
    assert not flops.runs_tf32("bf16", True, 9) and not flops.runs_tf32("fp32", True, None)  # autocast; a CPU
    assert flops.gpu_peak_tflops("NVIDIA H200", "tf32") > 7 * flops.gpu_peak_tflops("NVIDIA H200", "fp32")


def test_an_eager_job_times_its_first_call_apart(compose_cfg, tmp_path: Path, capsys) -> None:
    record = run_task(compose_cfg(*TEST_NET, *TINY_BENCH), tmp_path)
    assert record["first_call_s"] > 0 and record["compile_s"] is None
    assert record["compile_graphs"] is None and record["compile_graph_breaks"] is None
    assert "first call (not timed): " in capsys.readouterr().out
    # a CPU has one clock: the steps are wall-clock times and the record says there is nothing to compare
    assert (record["step_clock"], record["step_wall_times_s"], record["wall_vs_event_median"]) == ("wall", None, None)


@pytest.mark.slow  # two inductor compilations: ~20 s each on a busy 2-core CPU
def test_compiled_jobs_in_one_process_each_compile_and_never_time_the_compilation(
        compose_cfg, tmp_path: Path, capsys) -> None:
    import torch._dynamo
    import torch._inductor.config

    # torch's own config patches, not monkeypatch: its undo deletes a config module's key it took for absent,
    # and every later compilation in the process then fails ("fx_graph_cache does not exist")
    # - a real compilation each time (not a cache hit of an earlier run): seconds against milliseconds a step
    # - one recompile allowed: without a fresh Dynamo per job the second job (a new shape of the same forward)
    #   would be past the limit and run eagerly, compiling no graph
    with torch._inductor.config.patch(fx_graph_cache=False), torch._dynamo.config.patch(recompile_limit=1):
        records = [run_task(compose_cfg(*TEST_NET, *TINY_BENCH, "bench.compile=default", "bench.burn_in=0",
                                        f"bench.batch_size={batch}"), tmp_path / str(batch)) for batch in (2, 3)]
    for record in records:
        assert record["status"] == "ok", record["error"]
        assert record["compile_graphs"] == 1 and record["compile_graph_breaks"] == 0
        assert record["compile_break_reasons"] == []
        # no burn-in: had the first call (the compilation) been a timed step, the slowest step would be it
        assert record["compile_s"] == record["first_call_s"] > 5 * max(record["step_times_s"])
        assert len(record["step_times_s"]) == 3
    assert "first call (compilation, not timed)" in capsys.readouterr().out
