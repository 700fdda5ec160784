"""tools/lightning_overhead.py: a CPU dry run of the Lightning-vs-bare-loop comparison (a few tiny steps)."""
from __future__ import annotations

import re

from helpers import TEST_CONF
from tools.lightning_overhead import main

TINY = ["--steps", "3", "--warmup", "1", "--rounds", "2", "--threads", "1", f"hydra.searchpath=[file://{TEST_CONF}]",
        "model=tiny_test", "data=synthetic", "data.num_classes=10", "data.input_size=16", "data.image_size=16",
        "data.train_size=24", "data.batch_size=8"]


def test_dry_run_times_both_loops_in_alternating_rounds(capsys) -> None:
    rounds = main(TINY)
    assert len(rounds) == 2
    for r in rounds:
        assert r.lightning_steps == 4  # warm-up + timed steps, across an epoch boundary (3 batches an epoch)
        assert r.lightning_s > 0 and r.bare_s > 0 and r.ratio == r.bare_s / r.lightning_s
    out = capsys.readouterr().out
    assert len(re.findall(r"round \d: Lightning [\d.]+ ms/step, bare loop [\d.]+ ms/step, ratio [\d.]+", out)) == 2
    assert re.search(r"Lightning overhead \(tiny_test, data=synthetic, batch 8, 3 steps x 2 rounds\): "
                     r"bare loop / Lightning = [\d.]+ \(median", out)
