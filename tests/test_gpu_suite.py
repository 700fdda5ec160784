"""The GPU suite (tools/gpu_suite.py): its CPU dry run end to end, and the logic of its CUDA-only aids.

The dry run is the same script a GPU session runs (``--device cpu --tiny``): real harness jobs, the real
README command, timm's real benchmark script, a real Lightning fit, the serving scenarios, loader mode on a
JPEG folder, profile attribution; only compiled modes, CUDA graphs and TF32 are skipped and GPU decode runs
on the CPU, each with a line saying so. The GPU timings themselves are measured on a GPU, not here.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from contracts.status import Status
from tools import gpu_lightning, gpu_timm
from tools.gpu_core import Suite, card_state, gpu_slug
from tools.gpu_parts import event_vs_wall
from tools.gpu_report import SKIPPED, Row, goals
from tools.gpu_suite import PARTS, TINY, TITLES, main


def rows_of(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "records.jsonl").read_text().splitlines()
    return {f"{r['part']}/{r['label']}": r for r in map(json.loads, lines)}


@pytest.fixture
def restore_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The dry run runs on one CPU thread (torch's and its children's): give the tests after it theirs back."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # recorded: undone after the test, whatever main() set
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.usefixtures("restore_threads")
def test_cpu_dry_run_runs_every_part_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    assert main(["--out", str(out), "--device", "cpu", "--tiny"]) == 0
    rows = rows_of(out)
    summary = (out / "summary.md").read_text()
    assert "## Errors (0)" in summary, summary
    assert not (out / "errors.log").exists()
    for part in PARTS:  # every part ran or said why not
        assert any(key.startswith(f"{part.name}/") for key in rows), part.name
    for title in ("Harness paths", "A batch that cannot fit", "precision x layout", "Lightning trainer", "Goals",
                  "Serving scenarios", "Loader mode", "Profile attribution", "Input pipeline per core", "task=compare"):
        assert title in summary

    # the README's command ran as a user types it, with its record where the suite asked
    readme = rows["harness/readme_default"]
    assert readme["status"] == "ok" and readme["model"] == "googlenet" and readme["images_per_s"] > 0
    assert (out / "jobs" / "harness-readme_default" / "record.json").is_file()
    assert rows["harness/tf_book_inception_v3"]["model"] == "inception_v3"
    assert rows["harness/train_step"]["mode"] == "forward_backward"
    for label in ("tf_book_inception_v3", "train_step"):  # the records' own clocks: on a CPU, the wall clock only
        pair = rows[f"harness/{label}_events_vs_wall"]
        assert pair["step_clock"] == "wall" and pair["steps"] == 2 and pair["wall_mean_s"] > 0
        assert pair["event_mean_s"] is None and pair["wall_vs_event_median"] is None

    # a batch no machine can hold is recorded as oom with that batch, and the next job runs
    assert rows["oom/too_big"]["status"] == "oom" and rows["oom/too_big"]["batch_size"] == TINY.oom_batch
    assert "out of memory at batch size" in rows["oom/too_big"]["error"]
    assert rows["oom/after"]["status"] == "ok" and rows["oom/recovery"]["status"] == "ok"

    for label, precision, layout in (("fp32_nchw", "fp32", "contiguous"), ("bf16_nhwc", "bf16", "channels_last")):
        row = rows[f"precision/{label}"]
        assert row["status"] == "ok" and row["precision"] == precision and row["memory_format"] == layout
    assert "--tiny" in rows["precision/fp16_nhwc"]["note"]
    fp32 = rows["precision/fp32_nchw"]  # bench.tf32=false: off for the job (its record says so), restored after
    assert (fp32["tf32_conv"], fp32["tf32_matmul"], fp32["cudnn_benchmark"]) == (False, False, True)
    assert torch.backends.cudnn.allow_tf32 is True and rows["oom/before"]["tf32_conv"] is True
    for skipped in ("precision/tf32_nchw", "compile/bf16_nhwc_default", "compile/bf16_nhwc_reduce-overhead",
                    "autotune/bf16_nhwc_max-autotune"):
        assert rows[skipped]["kind"] == "skip" and "cuda only" in rows[skipped]["note"]

    if gpu_timm.find_script() is not None:
        pair = rows["timm/inception_v3_inference"]
        assert pair["timm_images_per_s"] > 0 and pair["ours_over_timm"] > 0
        assert "--channels-last" in pair["timm_timm_args"] and "bfloat16" in pair["timm_timm_args"]
    else:
        assert "not found" in rows["timm/inception_v3_inference"]["note"]

    lightning = rows["lightning/train_epoch"]
    assert lightning["status"] == "ok" and lightning["bare_steps"] == 2
    assert lightning["lightning_images_per_s"] > 0 and lightning["bare_images_per_s"] > 0
    assert lightning["loader_images_per_s"] > 0 and lightning["lightning_over_bare"] > 0
    assert lightning["model_alone_images_per_s"] > 0
    assert 0 <= lightning["bare_loader_wait_share"] <= 1 and 0 <= lightning["lightning_loader_wait_share"] <= 1
    assert not (out / "jobs" / "lightning-trainer" / "checkpoints").exists()

    single, server, offline = (rows[f"serving/{name}"] for name in ("single_stream", "server", "offline"))
    assert single["status"] == "ok" and single["scenario"] == "single_stream" and single["latency_p50_s"] > 0
    # 1 to 3 probes: on a busy CPU the p99 can miss the SLO at the range's bottom, and the search stops there
    assert server["status"] == "ok" and server["slo_s"] == 0.2 and server["qps_probes"] and "max_qps_at_slo" in server
    assert offline["status"] == "ok" and offline["batch_size_best"] in (1, 2) and offline["batch_size_max_fit"] == 2
    zoo = rows["zoo/googlenet"]  # at the offline scenario's best batch
    assert zoo["status"] == "ok" and zoo["batch_size"] == offline["batch_size_best"]
    assert f"batch {offline['batch_size_best']}: the offline scenario's best" in zoo["note"]
    assert rows["zoo/xception"]["kind"] == "skip"

    loader = rows["loader/train_decode_cpu"]  # GPU decode needs CUDA: the dry run decodes on the CPU
    assert loader["status"] == "ok" and loader["input"] == "loader" and loader["decode"] == "cpu"
    assert loader["mode"] == "forward_backward" and isinstance(loader["data_bound"], bool)
    assert loader["pipeline_images_per_s"] > 0 and "decodes on the CPU" in loader["note"]
    profiled = rows["profile/modules"]
    assert profiled["status"] == "ok" and profiled["profiled"] is True and profiled["modules"]
    assert "Profile attribution" in summary and "inception" in summary.split("Profile attribution")[1]

    pipeline = [key for key in rows if key.startswith("pipeline/")]  # every row of tools.pipeline_bench
    assert any("decode PIL" in k for k in pipeline) and any("timm" in k for k in pipeline)
    assert any("torchvision" in k for k in pipeline) and any("ours default" in k for k in pipeline)
    assert all(rows[k]["workers=0"] > 0 and rows[k]["vs_decode"].endswith("%") for k in pipeline)
    nchw, nhwc, compared = (rows[f"compare/{label}"] for label in ("nchw", "nhwc", "nhwc_vs_nchw"))
    assert nchw["memory_format"] == "contiguous" and nhwc["memory_format"] == "channels_last"
    assert len(nchw["repeat_means_s"]) == len(nhwc["repeat_means_s"]) == TINY.compare_repeats
    assert compared["status"] == "ok" and compared["n_pairs"] == 1 and compared["suite_low"] <= compared["suite_ratio"]
    assert compared["suite_ratio"] <= compared["suite_high"]
    assert rows["precision/bf16_nhwc"]["note"] == "same job as oom/before"  # not the one after the oom
    goal_lines = summary.split("## Goals")[1].split("## Skipped")[0].strip().splitlines()[2:]
    assert len(goal_lines) == 5 and all("not measured (no GPU row of it ran" in line for line in goal_lines)


@pytest.mark.usefixtures("restore_threads")
def test_budget_spent_skips_each_job_with_a_line(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--device", "cpu", "--tiny", "--budget-s", "0", "--parts", "precision,oom"]
    assert main(args) == 0
    rows = rows_of(tmp_path)
    assert rows and all(r["kind"] == "skip" for r in rows.values())
    budget = {key for key, r in rows.items() if "time budget" in r["note"]}
    assert {"precision/fp32_nchw", "oom/before", "oom/too_big", "oom/after"} <= budget
    assert "## Skipped (" in (tmp_path / "summary.md").read_text()


def test_a_failing_job_is_recorded_and_the_next_one_runs(tmp_path: Path) -> None:
    suite = Suite(tmp_path, "cpu", TINY, 600, None, TITLES)
    bad = suite.bench("p", "bad", suite.bench_overrides("model=no_such_model"), 1)
    assert bad is None and suite.rows[-1].kind == "error" and "no_such_model" in suite.rows[-1].note
    tiny = ("model=googlenet", "bench.input_size=31", "bench.batch_size=1", "bench.steps=1", "bench.burn_in=0")
    good = suite.bench("p", "good", suite.bench_overrides(*tiny), 1)
    assert good is not None and good.status == "ok"
    assert "=== p/bad" in (tmp_path / "errors.log").read_text()
    assert "## Errors (1)" in (tmp_path / "summary.md").read_text()


def test_bad_arguments_fail_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--parts", "harness,warp_drive"])
    assert f"valid choices: {', '.join(TITLES)}" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path)])
        assert "no CUDA device is available here; use --device cpu --tiny" in capsys.readouterr().err


def test_timm_arguments_mirror_our_settings() -> None:
    args = gpu_timm.timm_args("xception", "train", 256, 299, "bf16", True, "max-autotune", 5, 2, "cuda")
    joined = " ".join(args)
    assert "--model legacy_xception" in joined and "--bench train" in joined and "-b 256" in joined
    assert "--amp --amp-dtype bfloat16" in joined and "--channels-last" in joined and "--no-retry" in joined
    assert "--torchcompile inductor --torchcompile-mode max-autotune" in joined
    assert "--num-bench-iter 5" in joined  # timm divides by iters // 5: never fewer than 5
    fp32 = gpu_timm.timm_args("inception_v3", "inference", 8, 299, "fp32", False, False, 1, 30, "cpu")
    assert "--amp" not in fp32 and "--channels-last" not in fp32 and "--torchcompile" not in fp32


def test_timm_results_are_parsed_or_refused() -> None:
    good = gpu_timm.parse_result('Running...\n--result\n{"model": "inception_v3", "infer_samples_per_sec": 12.5}')
    assert gpu_timm.images_per_s(good, "inference") == 12.5
    with pytest.raises(gpu_timm.TimmError, match="no result: Traceback"):
        gpu_timm.parse_result("Traceback (most recent call last):")
    with pytest.raises(gpu_timm.TimmError, match="CUDA out of memory"):
        gpu_timm.parse_result('--result\n{"model": "inception_v3", "error": "CUDA out of memory. Tried..."}')


def test_gpu_slug_names_the_results_folder() -> None:
    assert gpu_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert gpu_slug("NVIDIA H200") == "nvidia-h200"
    assert card_state(torch.device("cpu")) == {}


def gpu_row(kind: str, part: str, label: str, **fields: Any) -> Row:
    return Row(part, label, kind, Status.OK, {"device_type": "cuda", **fields})


def test_a_loop_waiting_for_data_marks_the_ratio_data_bound_though_the_loader_alone_is_fast() -> None:
    bare = {"bare_images_per_s": 1156.5, "loader_images_per_s": 7053.1, "bare_loader_wait_share": 0.02,
            "model_alone_images_per_s": 1200.0}
    assert not gpu_lightning.compare({"images_per_s": 999.0, "data_bound": False}, bare)["data_bound"]
    # the H200's first run: the loader alone at 6x the loop, yet 40% of each Lightning step waited for data
    assert gpu_lightning.compare({"images_per_s": 999.0, "data_bound": True, "loader_wait_share": 0.40},
                                 bare)["data_bound"]
    assert gpu_lightning.compare({"images_per_s": 999.0, "data_bound": False},
                                 {**bare, "bare_loader_wait_share": 0.3})["data_bound"]
    assert gpu_lightning.compare({"images_per_s": 999.0, "data_bound": False},
                                 {**bare, "model_alone_images_per_s": 2400.0})["data_bound"]


def test_goals_are_computed_from_the_rows() -> None:
    rows = [
        gpu_row("timm", "timm", "inception_v3_inference", ours_over_timm=1.05),
        gpu_row("timm", "timm", "inception_v4_inference", ours_over_timm=0.97),
        Row("timm", "timm_xception_inference", "skip", SKIPPED, note="time budget"),
        Row("timm", "ours_xception_inference", "skip", SKIPPED, note="time budget"),  # the same pair: counted once
        gpu_row("bench", "compile", "bf16_nhwc_default", precision="bf16", utilization=0.31),
        gpu_row("lightning", "lightning", "train_epoch", lightning_over_bare=0.97, data_bound=False),
        gpu_row("pair", "harness", "tf_book_inception_v3_events_vs_wall", wall_vs_event_median=0.004),
        gpu_row("pair", "harness", "train_step_events_vs_wall", wall_vs_event_median=-0.031),
        gpu_row("loader", "loader", "train_decode_gpu", decode="gpu", data_bound=True),
    ]
    lines = goals(rows, dry_run=False)[2:]
    assert lines[0].endswith("NOT reached (lowest 0.970 of 2 pairs; 1 of 3 not measured)")
    assert lines[1].endswith("reached (best 31.0% of 1 compiled rows)")
    assert lines[2].endswith(": reached (0.970)")
    assert lines[3].endswith("NOT reached (wall vs event +0.40%, -3.10%)")
    assert lines[4].endswith("NOT reached (data-bound in 1 of 1 runs)")
    # a data-bound Lightning ratio is not the trainer's: not measured, and said why
    bound = goals([gpu_row("lightning", "lightning", "train_epoch", lightning_over_bare=0.5, data_bound=True)],
                  dry_run=False)[4]
    assert "not measured" in bound and "1 data-bound ratio(s) left out" in bound
    # a CPU row never reaches a GPU goal; its figure is shown as what it is
    cpu = Row("timm", "inception_v3_inference", "timm", Status.OK, {"device_type": "cpu", "ours_over_timm": 1.9})
    assert goals([cpu], dry_run=True)[2].endswith("not measured (no GPU row of it ran; the CPU dry run's figure, "
                                                   "not a goal's: 1.9)")


def test_events_vs_wall_comes_from_the_record_itself() -> None:
    record = {"step_clock": "cuda_event", "device_type": "cuda", "step_times_s": [0.010, 0.010],
              "step_wall_times_s": [0.0103, 0.0104], "wall_vs_event_median": 0.035}
    pair = event_vs_wall(Row("harness", "tf_book_inception_v3", "bench", Status.OK, record))
    assert pair.label == "tf_book_inception_v3_events_vs_wall" and pair.kind == "pair"
    assert pair.fields["event_mean_s"] == pytest.approx(0.010) and pair.fields["wall_mean_s"] == pytest.approx(0.01035)
    assert pair.note == "DIFFER: wall +3.50% vs events (median of steps)"  # beyond the 2% goal


def test_parts_are_one_list_in_priority_order() -> None:
    names = [p.name for p in PARTS]
    assert len(set(names)) == len(names) and list(TITLES) == names
    assert names.index("serving") < names.index("zoo")  # the zoo runs at the offline scenario's best batch


def test_every_gpu_job_composes_and_validates(tmp_path: Path) -> None:
    """The GPU-sized plan (never run on a CPU) has no override a GPU session would trip over."""
    from contracts.config import validate
    from tools.gpu_core import job
    from tools.gpu_parts import TIMM_MODELS, ZOO
    from tools.gpu_suite import FULL

    suite = Suite(tmp_path, "cuda", FULL, 0, None, TITLES)  # composing only: nothing runs, no GPU is touched
    benches = [suite.bench_overrides("experiment=tf_book_inception_v3"), suite.bench_overrides(*FULL.train_step),
               job(suite, "fp32", True, batch=FULL.oom_batch, mode="forward_backward")]
    benches += [job(suite, "fp32" if p == "tf32" else p, cl, tf32=p == "tf32") for p, cl in FULL.matrix]
    benches += [suite.bench_overrides(*o) for o in FULL.serving.values()]
    benches += [suite.bench_overrides(*FULL.loader, f"data.root={tmp_path}", "data.decode=gpu"),
                suite.bench_overrides(*FULL.profile)]
    benches += [job(suite, "bf16", True, mode) for mode in ("default", "reduce-overhead", "max-autotune")]
    benches += [job(suite, "bf16", True, "default", model=name) for name in ZOO]
    benches += [job(suite, "bf16", True, model=name) for name in TIMM_MODELS]
    for overrides in benches:
        cfg = suite.compose(overrides)
        validate(cfg)
        assert cfg.bench.device == "cuda" and cfg.logger.name == "none"
    assert suite.compose(["experiment=tf_book_inception_v3", "logger=none"]).bench.batch_size == 32
    train = suite.compose([*FULL.train, "logger=none"])
    assert (train.task, train.trainer.precision, train.trainer.accelerator) == ("train", "bf16-mixed", "gpu")
    assert train.data.train_size == 200 * train.data.batch_size and train.data.augment.photometric is False


def test_timm_accepts_the_arguments_of_every_pair() -> None:
    """Our arguments parse with the real script's own parser (its flags drift between timm versions)."""
    import importlib.util

    script = gpu_timm.find_script()
    if script is None:
        pytest.skip("timm's benchmark.py is not beside this checkout (shared/peers/)")
    spec = importlib.util.spec_from_file_location("timm_benchmark", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines its parser; main() runs only as a script
    for model in gpu_timm.TIMM_NAMES:
        for bench, compile_mode in (("inference", False), ("inference", "default"), ("train", False)):
            args = module.parser.parse_args(gpu_timm.timm_args(model, bench, 256, 299, "bf16", True, compile_mode,
                                                               5, 30, "cuda"))
            assert (args.model, args.batch_size, args.amp_dtype, args.channels_last) == (
                gpu_timm.TIMM_NAMES[model], 256, "bfloat16", True)
            assert args.torchcompile == ("inductor" if compile_mode else None) and args.no_retry
