"""Where records go: read-only and full results dirs fail before any work with one line; a final write that fails
keeps the measurement (stdout, the fallback dir) naming ENOSPC; run and sweep dirs are never silently reused; records
follow the umask so another user's report reads them. Full and read-only disks are real: small tmpfs mounts (root)."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.job.lifecycle import run_job
from bench.report.records import build_report
from contracts.job import JobSpec
from helpers import TEST_NET, TINY_BENCH, killed_on_exit, read_if_written, records, run_cli, start_cli, wait_until

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
TINY = [*TEST_NET, *TINY_BENCH]
PEER = "ibench-peer"  # the second user of the shared-results test


def _root_or_skip(what: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if IN_CI:
            pytest.fail(f"CI runs as root and must run {what}")
        pytest.skip(f"{what} needs root (a tmpfs mount or a second user)")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(size, ro=False)``: a real small file system of its own, unmounted afterwards."""
    _root_or_skip("the full / read-only disk tests")
    mounted: list[Path] = []

    def mount(size: str, ro: bool = False) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}" + (",ro" if ro else ""), "tmpfs", str(point)],
                       check=True, capture_output=True)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill(disk: Path) -> None:
    """Write until the file system says ENOSPC."""
    with (disk / "filler").open("wb") as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
                f.flush()
        except OSError:
            pass


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert all(w in line for w in words), line
    return line


# ---------------------------------------------------------------------------------- unwritable before any work
@pytest.mark.parametrize("sweep", [False, True])
def test_a_read_only_results_dir_is_one_line_before_any_work(tmpfs: Callable[..., Path], sweep: bool) -> None:
    disk = tmpfs("1m", ro=True)
    proc = run_cli(*(["-m", "bench.batch_size=1,2"] if sweep else []), *TINY, f"paths.results_dir={disk}")
    _one_line_error(proc, "EROFS", str(disk), "paths.results_dir")


def test_a_full_results_dir_is_one_line_before_any_work(tmpfs: Callable[..., Path]) -> None:
    disk = tmpfs("512k")
    proc = run_cli(*TINY, f"paths.results_dir={disk}")
    _one_line_error(proc, "ENOSPC", str(disk))
    assert not list(disk.rglob("record.json"))


# ---------------------------------------------------------------------------------- the disk fills during the job
@pytest.mark.slow
def test_a_disk_full_at_the_final_write_keeps_the_measurement_and_names_enospc(tmpfs: Callable[..., Path],
                                                                             tmp_path: Path) -> None:
    """The issue's row: 60 timed steps, then the results disk is full. The measurement survives on stdout and in the
    fallback dir, the cause is ENOSPC, nothing says killed."""
    disk, fallback, output = tmpfs("8m"), tmp_path / "fallback", tmp_path / "output.txt"
    job = disk / "job"
    # steps of ~50 ms (3 s in all here): the test net's default sub-millisecond ones ended the job before the poll
    # saw its running record on a faster machine
    slow = ["bench.batch_size=32", "bench.input_size=128", "model.width=64"]
    proc = start_cli(*TEST_NET, *slow, "bench.steps=60", "bench.burn_in=1", "bench.log_every=0", f"hydra.run.dir={job}",
                     f"paths.fallback_dir={fallback}", output=output)
    with killed_on_exit(proc):
        running = wait_until(lambda: (r := read_if_written(job / "record.json")) and r["status"] == "running" and r,
                             300, "the job's running record", proc)
        _fill(disk)
        assert proc.wait(300) == 1, output.read_text()[-3000:]
    text = output.read_text()
    (line,) = [json.loads(ln) for ln in text.splitlines() if ln.startswith('{"unwritten_record"')]
    printed = line["unwritten_record"]
    kept = json.loads((fallback / running["run_id"] / "record.json").read_text())
    for rec in (printed, kept):
        assert rec["run_id"] == running["run_id"] and rec["status"] == "ok" and rec["mean_s"] > 0
        assert len(rec["step_times_s"]) == 60 and rec["write_error"].startswith("ENOSPC")
    assert kept["record_fallback"] == str(fallback / running["run_id"])
    assert "killed" not in text and "ENOSPC" in text and str(fallback / running["run_id"]) in text


# ---------------------------------------------------------------------------------- reused run and sweep dirs
def test_a_second_sweep_into_the_same_dir_is_refused_or_goes_to_a_fresh_dir(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    first = run_cli("-m", *TINY, f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}", "bench.batch_size=1,2")
    assert first.returncode == 0, first.stderr[-3000:]
    before = {r["run_id"] for r in records(sweep)}

    again = run_cli("-m", *TINY, f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}", "bench.batch_size=4")
    _one_line_error(again, str(sweep), "already holds 2 record(s)", "paths.on_existing=new")
    assert {r["run_id"] for r in records(sweep)} == before  # the first sweep's records untouched

    fresh = run_cli("-m", *TINY, f"paths.results_dir={tmp_path}", f"hydra.sweep.dir={sweep}", "bench.batch_size=4",
                    "paths.on_existing=new")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert {r["run_id"] for r in records(sweep)} == before
    (new,) = records(tmp_path / "sweep-1")
    assert (new["sweep_id"], new["batch_size"], new["sweep_dir"]) == ("sweep-1", 4, str(tmp_path / "sweep-1"))
    assert pd.read_csv(tmp_path / "sweep-1" / "report" / "summary.csv")["batch_size"].tolist() == [4]
    assert pd.read_csv(sweep / "report" / "summary.csv")["batch_size"].tolist() == [1, 2]


def test_a_single_run_into_a_dir_with_a_final_record_is_refused(tmp_path: Path) -> None:
    job = tmp_path / "job"
    assert run_cli(*TINY, f"hydra.run.dir={job}", "isolate=false").returncode == 0
    (before,) = records(job)
    _one_line_error(run_cli(*TINY, f"hydra.run.dir={job}"), str(job), "already holds 1 record(s)")
    assert records(job) == [before] and "isolate=false" in (job / ".hydra" / "overrides.yaml").read_text()  # untouched
    fresh = run_cli(*TINY, f"hydra.run.dir={job}", "paths.on_existing=new", "isolate=false")
    assert fresh.returncode == 0 and records(job) == [before] and len(records(tmp_path / "job-1")) == 1


# ---------------------------------------------------------------------------------- permissions
@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)])
def test_records_and_run_dirs_follow_the_umask(compose_cfg: Callable[..., Any], tmp_path: Path, umask: int,
                                               file_mode: int, dir_mode: int) -> None:
    saved = os.umask(umask)
    try:
        out = tmp_path / "run"
        run_job(compose_cfg("task=benchmark", "logger=none", "heartbeat_interval_s=0.05"), JobSpec.for_dir(out), lambda cfg, ctx: {"ok": True})
    finally:
        os.umask(saved)
    assert stat.S_IMODE((out / "record.json").stat().st_mode) == file_mode
    assert stat.S_IMODE(out.stat().st_mode) == dir_mode


def _as_user(user: str, work: Callable[[], str]) -> str:
    """``work()`` in a forked process running as ``user`` (the kernel checks its file access), its text back.

    A fork, not a new interpreter: this Python lives under /root (0700), which the other user cannot execute.
    """
    peer = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to the user, do the work, report, leave at once
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(peer.pw_gid)
            os.setuid(peer.pw_uid)
            os.write(write_end, work().encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - the parent shows it
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    return text


def test_another_users_report_reads_the_records(compose_cfg: Callable[..., Any]) -> None:
    """A shared results dir on a cluster: records one user wrote under umask 022 are read by another user's report."""
    _root_or_skip("the second-user test")
    try:
        pwd.getpwnam(PEER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PEER], check=True, capture_output=True)
    shared = Path(f"/tmp/ibench-shared-{os.getpid()}")  # not under pytest's tmp dirs (0700)
    saved = os.umask(0o022)
    try:
        for n in range(2):
            run_job(compose_cfg("task=benchmark", "logger=none"), JobSpec.for_dir(shared / f"run{n}"), lambda cfg, ctx: {"mean_s": 0.01})

        def report() -> str:
            found = build_report([shared])
            return f"{len(found.records)} {len(found.skipped)}"

        assert _as_user(PEER, report) == "2 0"  # both records read, none skipped
    finally:
        os.umask(saved)
        shutil.rmtree(shared, ignore_errors=True)
