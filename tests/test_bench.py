"""experiment bench (scripts/bench.py): the quick mode runs end to end and reports every figure; its invariant checks
catch a broken plan (timings are reported, never asserted)."""

import json

import numpy as np
import pytest

from runs import python


def load_bench():
    from scripts import bench

    return bench


def test_quick_bench_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    # --boss-seconds 0: the first of the 3 rounds runs, no later one starts
    _, log = python("-m", "scripts.experiment", "bench", "--quick", "--boss-rounds", "3", "--boss-seconds", "0",
                    "--out", out, timeout=300)
    res = json.loads(out.read_text())
    assert [r["pairs"] for r in res["scoring"]] == [10_000, 100_000]
    assert all(r["pairs_per_s"] > 0 for r in res["scoring"])
    assert [r["target_tokens"] for r in res["learn"]] == [4096, 16384, 32768]
    assert [r["chunks"] for r in res["planning"]] == [1, 10]
    assert res["planning"][1]["chunk_seconds"] > 0
    assert res["startup"]["pairs"] == 200_000 and res["startup"]["peak_mb"] > 0
    boss = res["boss"]
    assert len(boss["rounds"]) == 1 and {"a", "b", "c"} <= set(boss["rounds"][0])
    assert boss["c_over_a"]["median"] > 0 and boss["b_over_a"]["median"] > 0
    assert set(res["targets"]) == {"score_pairs_per_s", "learn_ms_per_4k_tokens",
                                   "plan_epoch_seconds", "plan_epoch_peak_mb",
                                   "boss_c_over_a_median"}
    assert "| figure | measured | target | met |" in log
    assert "the time given is up after 1 of 3 rounds" in log


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """A 5,000-pair synthetic corpus planned in 3 chunks, every chunk planned."""
    bench = load_bench()
    dataset, d = bench.synthetic_dataset(tmp_path_factory.mktemp("synth"), 5000, 2000)
    from fairseq_autoassist.plan import Batcher
    from fairseq_autoassist.tokens import PairTables

    tables = PairTables(dataset)
    assistant = bench.trained_assistant(tables, len(d))
    task = bench.make_task(d)
    batcher = Batcher(task, dataset, 1000, None, (1024, 1024), False, 8, seed=1)
    autoassist = bench.autoassist_of(task, dataset, batcher, assistant, chunks=3)
    plan, decide = bench.plan_epoch(autoassist, 2)
    assert autoassist.plan is plan  # the plugin's own plan of the epoch
    budgets = list(plan.budgets)
    for k in (1, 2):
        plan.plan_chunk(k, decide)
    return bench, plan, dataset, budgets


def test_bench_invariants_hold_on_a_real_plan(planned):
    bench, plan, dataset, budgets = planned
    assert bench.check_plan(plan, dataset, 1000, budgets) == sum(budgets)


@pytest.mark.parametrize("breakage,message", [
    ("duplicate", "two batches"),
    ("stranger", "not a candidate"),
    ("oversize", "over --max-tokens"),
    ("budget", "budget"),
])
def test_bench_invariants_catch_a_broken_plan(planned, breakage, message):
    bench, plan, dataset, budgets = planned
    saved = [list(plan.chunk_batches(k)) for k in range(plan.planned)]
    try:
        chunk = plan.chunk_batches(1)  # the plan's own list: broken in place
        if breakage == "duplicate":
            chunk[0] = np.concatenate([chunk[0], chunk[1][:1]])
        elif breakage == "stranger":
            outside = np.setdiff1d(np.arange(len(dataset)), plan.candidates)
            if len(outside) == 0:  # every pair is a candidate: make one up past the corpus
                outside = np.array([len(dataset)])
            chunk[0] = np.concatenate([chunk[0][1:], outside[:1]])
        elif breakage == "oversize":
            chunk[0] = np.concatenate([chunk[0], chunk[1]])
            del chunk[1]
            chunk.append(chunk[-1][-1:])
            chunk[-2] = chunk[-2][:-1]
        else:
            chunk.append(chunk.pop()[:1])  # same pairs lost, one batch too many
            chunk.append(np.zeros(0, dtype=np.int64))
        with pytest.raises(bench.InvariantError, match=message):
            bench.check_plan(plan, dataset, 1000, budgets)
    finally:
        for k, batches in enumerate(saved):
            plan.chunk_batches(k)[:] = batches


def test_bench_exits_1_on_an_invariant_error(tmp_path, monkeypatch):
    bench = load_bench()

    def broken(*args, **kwargs):
        raise bench.InvariantError("planted")

    monkeypatch.setattr(bench, "bench_planning", broken)
    assert bench.main(["--pairs", "2000", "--skip-boss", "--work", str(tmp_path)]) == 1
