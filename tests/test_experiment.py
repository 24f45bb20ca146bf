"""The experiment command (scripts/experiment.py) and its library: four entry points in scripts/,
quiet figures, one reader of the noise labels in both corrupted.json formats, one fairseq-train
command builder, docs/ holding compact results only."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from runs import REPO


def test_scripts_has_four_entry_points():
    """install, demo, the experiment command and the GPU check; every other file of scripts/ is
    a library module of the experiment command."""
    entry = {p.name for p in (REPO / "scripts").iterdir()
             if p.suffix == ".sh" or (p.suffix == ".py" and "__main__" in p.read_text())}
    assert entry == {"install.sh", "demo.sh", "experiment.py", "gpu_check.py"}
    out = subprocess.run([sys.executable, "-m", "scripts.experiment", "--help"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    from scripts.experiment import COMMANDS

    for name, (module, _) in COMMANDS.items():
        assert f"  {name} " in out and (REPO / "scripts" / f"{module}.py").is_file(), name


PLOT = """
import logging, sys
logging.basicConfig(level=logging.DEBUG)  # as importing fairseq leaves the root logger
from scripts import frontier, noise_compare
rows = [{"seed": 1, "run": "baseline", "name": "baseline-1", "budget": 1.0,
         "trained_target_tokens": 100, "wall_seconds": 10.0, "valid_nll": 3.0, "bleu": 30.0},
        {"seed": 1, "run": "autoassist", "name": "infobatch", "budget": None,
         "trained_target_tokens": 80, "wall_seconds": 9.0, "valid_nll": 3.1, "bleu": 29.0}]
frontier.plot(rows, [1], sys.argv[1] + "/frontier.png", "a frontier")
noise_compare.plot([{"method": "noisy baseline 1", "trained_target_tokens": 100,
                     "extra_forward_tokens": 0, "bleu": 28.0, "valid_nll": 3.5},
                    {"method": "skip-noise", "trained_target_tokens": 80,
                     "extra_forward_tokens": 20, "bleu": 29.0, "valid_nll": 3.4}],
                   sys.argv[1] + "/compare.png", "a comparison")
"""


def test_figures_print_no_third_party_debug_lines(tmp_path):
    """With the root logger at DEBUG (importing fairseq sets it so), drawing the frontier and the
    noise comparison prints none of matplotlib's or PIL's DEBUG lines (the demo printed ~180 of
    them before its table)."""
    proc = subprocess.run([sys.executable, "-c", PLOT, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "frontier.png").is_file() and (tmp_path / "compare.png").is_file()
    noise = [line for line in (proc.stdout + proc.stderr).splitlines()
             if re.match(r"DEBUG:(matplotlib|PIL)", line)]
    assert not noise, noise[:5]


@pytest.mark.parametrize("older", [False, True])
def test_one_label_reader_reads_both_corrupted_formats(tmp_path, older):
    """corrupted.json before the kinds held only ``ids`` (the misaligned pairs): the reader takes
    it as the misaligned kind (three of the five readers it replaced raised KeyError)."""
    from scripts import labels

    ids = [1, 4, 7]
    record = ({"ids": ids} if older else
              {"all_ids": ids, "kinds": {"misaligned": {"ids": ids}}})
    (tmp_path / "corrupted.json").write_text(json.dumps(record))
    assert labels.noisy_ids(tmp_path) == ids
    assert labels.pair_labels(tmp_path, 10).tolist() == [
        "misaligned" if i in ids else "clean" for i in range(10)]
    shares = labels.drop_shares(np.array([1, 4, 5]), tmp_path, 10)
    assert shares["dropped"] == 3 and shares["precision"] == pytest.approx(2 / 3)
    assert shares["recall"] == {"misaligned": pytest.approx(2 / 3)}
    assert shares["clean_dropped"] == pytest.approx(1 / 7)
    assert labels.drop_shares([1], tmp_path / "nothing-here", 10) is None


def test_crawl_labels_are_read_by_the_same_reader(tmp_path):
    from scripts import labels

    (tmp_path / "labels.json").write_text(json.dumps({"labels": ["clean", "V", "A", "L", "clean"]}))
    assert labels.noisy_ids(tmp_path) == [2, 3]
    assert labels.drop_shares([2, 4], tmp_path, 5)["share_dropped"] == {
        "A": 1.0, "L": 0.0, "V": 0.0, "clean": 0.5}
    with pytest.raises(labels.LabelError):
        labels.pair_labels(tmp_path, 6)


def test_every_train_command_comes_from_one_builder():
    """training.fairseq_train builds every fairseq-train command of scripts/; --cpu only when
    asked."""
    from scripts import bench, training

    for path in (REPO / "scripts").glob("*.py"):
        if path.name != "training.py":
            assert '"--label-smoothing"' not in path.read_text(), path.name
    cmd = training.fairseq_train("data", "tiny", 3, "save", ["--max-epoch", "2"], src="de",
                                 tgt="en", extra=["--assistant-off"])
    assert "--cpu" not in cmd and cmd[-1] == "--assistant-off" and "--seed" in cmd
    assert "--cpu" in training.fairseq_train("data", "tiny", 3, "save", cpu=True)
    stock = bench.boss_command("a", "data", "save", "tiny", 5, [])
    assert stock[stock.index("--task") + 1] == "translation" and "--user-dir" not in stock
    assert not any(a.startswith("--assistant") for a in stock)  # stock fairseq takes none
    assert "--assistant-off" in bench.boss_command("b", "data", "save", "tiny", 5, [])
    assert bench.boss_command("c", "data", "save", "tiny", 5, [], cpu=True)[-1] != "--cpu"


def test_docs_keep_compact_results_only():
    """docs/ <= 5 MB, no raw run files (fairseq-generate outputs, plan arrays and records, logs,
    per-run record trees); every experiment directory's runs.jsonl holds one record per run."""
    files = [p for p in (REPO / "docs").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 5 * 2 ** 20
    raw = [p for p in files if p.suffix in (".npz", ".log") or p.name.endswith(".generate.txt")
           or p.name == "plans.jsonl" or "records" in p.relative_to(REPO / "docs").parts]
    assert not raw, raw[:5]
    from scripts.results import read_runs

    for runs in (REPO / "docs").rglob("runs.jsonl"):
        for record in read_runs(runs.parent):
            assert {"seed", "name", "train", "evals"} <= set(record)
            assert record["train"]["command"][0] == "fairseq-train"


def test_offline_writes_the_compact_layout(m30k_noisy, tmp_path):
    """experiment offline: --out receives seed<S>/offline.json (the warm-up's and the report's
    commands and costs, the dropped pairs per planted kind) and heuristic/heuristic.json, as
    docs/ keeps them; the warm-up run, the report and the filtered corpora stay in --work."""
    from runs import python

    out, work = tmp_path / "results", tmp_path / "work"
    python("-m", "scripts.experiment", "offline", "--data", m30k_noisy, "--arch", "tiny",
           "--seeds", "1", "--threads", "1", "--out", out, "--work", work)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "heuristic/heuristic.json", "seed1/offline.json"]
    record = json.loads((out / "seed1" / "offline.json").read_text())
    assert record["warmup"]["command"][0] == "fairseq-train"
    assert "--cpu" not in record["warmup"]["command"]  # fairseq picks the device
    assert record["report"]["wall_seconds"] == record["report_wall_seconds"] > 0
    assert record["warmup_target_tokens"] == record["warmup"]["final"]["trained_target_tokens"]
    assert set(record["dropped"]["recall"]) == {"misaligned"}
    for raw in ("seed1/warmup", "seed1/report/pairs.csv", "seed1/data-offline",
                "heuristic/data-heuristic"):
        assert (work / raw).exists(), raw


def test_a_recorded_run_is_reused_whatever_its_plan_records_location():
    """Where a run writes its plan records (--assistant-plan-dir) does not change how it trains:
    a committed record made before the harness added that flag is still reused; any other
    difference in the command is not."""
    from scripts.results import reusable

    recorded = {"seed": 1, "name": "skip-noise", "train": {
        "command": ["fairseq-train", "/elsewhere/data-bin/crawl", "--seed", "1"]}}
    now = ["fairseq-train", "data-bin/crawl", "--seed", "1", "--assistant-plan-dir",
           "runs/frontier-crawl/seed1/skip-noise/plans"]
    assert reusable([recorded], 1, "skip-noise", now, None) is recorded
    assert reusable([recorded], 1, "skip-noise", [*now, "--lr", "1e-3"], None) is None
