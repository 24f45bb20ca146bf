"""python -m scripts.experiment curve end to end on a tiny budget: baseline, AutoAssist and the random control
trained, every checkpoint evaluated, CSV + PNG + summary written; plus the summary's ratio logic."""

import csv
import json
import math
import sys

import numpy as np
import pytest

from runs import log_records, plans, records, run

HEADER = ["run", "arch", "data", "seed", "device", "checkpoint", "wall_seconds", "updates",
          "trained_target_tokens", "keep_rate", "valid_nll", "bleu"]
RUNS = ("baseline", "autoassist", "random")
UPDATES, EVERY = 60, 20  # --max-tokens 2000 on 2,000 pairs: ~35 updates per full epoch


def load_curve_module():
    from scripts import curve

    return curve


@pytest.fixture(scope="module")
def curve(m30k, tmp_path_factory):
    out = tmp_path_factory.mktemp("curve")
    # one thread per fairseq process: on a CPU shared with other jobs more threads than free
    # cores slow training down many times over
    _, log = run([sys.executable, "-m", "scripts.experiment", "curve", "--data", m30k, "--arch", "tiny",
                  "--updates", UPDATES, "--eval-every", EVERY, "--seeds", "1", "--threads", "1",
                  "--out", out])
    return out, log


def test_csv_has_every_run_at_every_checkpoint(curve, m30k):
    out, _ = curve
    text = (out / "curve.csv").read_text()
    assert text.splitlines()[0] == ",".join(HEADER)
    rows = list(csv.DictReader(text.splitlines()))
    for run_name in RUNS:
        mine = [r for r in rows if r["run"] == run_name]
        assert [int(r["updates"]) for r in mine] == list(range(EVERY, UPDATES + 1, EVERY))
        tokens = [int(r["trained_target_tokens"]) for r in mine]
        walls = [float(r["wall_seconds"]) for r in mine]
        assert all(a < b for a, b in zip(tokens, tokens[1:])), tokens
        assert all(a < b for a, b in zip(walls, walls[1:])), walls
        for r in mine:
            assert (r["arch"], r["seed"], r["device"]) == ("tiny", "1", "cpu")
            assert r["data"] == m30k.name  # outside the repository: its name, no absolute path
            assert (out / r["checkpoint"]).is_file()
            assert walls[0] > 0 and tokens[0] > 0
            assert 0 < float(r["keep_rate"]) <= 1
            assert math.isfinite(float(r["valid_nll"])) and float(r["valid_nll"]) > 0
            assert 0 <= float(r["bleu"]) <= 100
    assert {float(r["keep_rate"]) for r in rows if r["run"] == "baseline"} == {1.0}
    auto = [float(r["keep_rate"]) for r in rows if r["run"] == "autoassist"]
    assert auto[0] == 1.0 and min(auto[1:]) < 1.0  # warm-up epoch, then a shrunk one


def test_random_control_follows_autoassist_keep_rates(curve):
    out, _ = curve
    auto = json.loads((out / "seed1" / "autoassist" / "train.json").read_text())
    rand = json.loads((out / "seed1" / "random" / "train.json").read_text())
    rates = json.loads((out / "seed1" / "autoassist" / "keep_rates.json").read_text())
    assert len(auto["epochs"]) >= 2 and len(rand["epochs"]) >= 2
    assert rates == {str(e["epoch"]): e["keep_rate"] for e in auto["epochs"]}
    assert rand["keep_rates_used"] == rates
    assert "--assistant-off" in json.loads((out / "seed1" / "baseline" / "train.json").read_text())["command"]
    log = (out / "seed1" / "random" / "train.log").read_text()
    assert "--assistant-scorer random --assistant-keep-rates" in log.splitlines()[0]
    started = [r for r in records(out / "seed1" / "random" / "checkpoints") if r["event"] == "plan"]
    floors = {r["epoch"]: r["keep_floor"] for r in started}
    by_epoch = {e["epoch"]: e for e in auto["epochs"]}
    for e in rand["epochs"]:
        target = rates[str(min(e["epoch"], max(by_epoch)))]
        assert floors[e["epoch"]] == pytest.approx(target, abs=1e-3)  # the rate it was given
        n = e["candidates"]
        assert abs(e["keep_rate"] - target) <= 4 * math.sqrt(target * (1 - target) / n) + 1 / n
    assert [p[3] for p in plans(started)][0] == 1.0 and min(p[3] for p in plans(started)) < 1.0


def test_png_and_summary(curve):
    import matplotlib.image

    out, log = curve
    png = out / "curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

    summary = json.loads((out / "summary.json").read_text())
    for scope in (summary["ratios"]["mean"], summary["ratios"]["per_seed"]["1"]):
        assert isinstance(scope["baseline_best_bleu"], float)
        for target in ("baseline_best", "baseline_best_minus_0.5"):
            entry = scope[target]
            assert entry["baseline"]["wall_seconds"] > 0
            assert entry["baseline"]["trained_target_tokens"] > 0
            for run_name in ("autoassist", "random"):
                for axis in ("wall_seconds", "trained_target_tokens"):
                    r = entry[run_name][axis]
                    assert set(r) == {"reached", "value", "ratio"}
                    if r["reached"]:
                        assert r["ratio"] > 0
                    else:
                        assert r["ratio"] is None and r["value"] is None
    for run_name in RUNS:
        final = summary["final"]["mean"][run_name]
        assert final["updates"] == UPDATES and final["valid_nll"] > 0
        assert summary["eval_seconds"]["per_seed"]["1"][run_name] > 0
    machine = summary["machine"]
    assert machine["device"] == "cpu" and machine["cpu_cores"] >= 1
    assert machine["torch"] and machine["fairseq"] and machine["cpu_model"]
    assert summary["sacrebleu_signature"].startswith("nrefs:1|")
    assert summary["config"]["test_sentences"] == 100
    md = (out / "summary.md").read_text()
    assert "baseline_best_minus_0.5" in md and summary["sacrebleu_signature"] in md
    assert summary["sacrebleu_signature"] in log  # printed


def test_missing_data_dir_is_a_clear_error(tmp_path):
    rc, log = run([sys.executable, "-m", "scripts.experiment", "curve", "--data", tmp_path / "nope",
                   "--arch", "tiny", "--updates", "10", "--eval-every", "5",
                   "--out", tmp_path / "out"], check=False)
    assert rc == 1
    assert "data directory" in log and "does not exist" in log


def test_time_to_target_ratios_and_not_reached():
    curve = load_curve_module()

    def points(bleus, seconds, tokens):
        return [{"updates": 10 * (i + 1), "bleu": b, "wall_seconds": s,
                 "trained_target_tokens": t} for i, (b, s, t) in enumerate(zip(bleus, seconds, tokens))]

    curves = {
        "baseline": points([10.0, 20.0, 30.0, 30.0], [10, 20, 30, 40], [100, 200, 300, 400]),
        "autoassist": points([15.0, 29.6, 31.0, 31.0], [10, 20, 30, 40], [60, 120, 180, 240]),
        "random": points([5.0, 10.0, 12.0, 29.0], [10, 20, 30, 40], [60, 120, 180, 240]),
    }
    r = curve.time_to_target(curves)
    assert r["baseline_best_bleu"] == 30.0
    best = r["baseline_best"]
    assert best["baseline"] == {"wall_seconds": 30, "trained_target_tokens": 300}
    assert best["autoassist"]["wall_seconds"] == {"reached": True, "value": 30, "ratio": 1.0}
    assert best["autoassist"]["trained_target_tokens"]["ratio"] == pytest.approx(0.6)
    assert best["random"]["wall_seconds"] == {"reached": False, "value": None, "ratio": None}
    near = r["baseline_best_minus_0.5"]  # 29.5
    assert near["autoassist"]["wall_seconds"]["ratio"] == pytest.approx(20 / 30)
    assert near["random"]["trained_target_tokens"]["reached"] is False

    mean = curve.mean_curves([
        {"run": run_name, "seed": s, "updates": 10, "bleu": b, "wall_seconds": w,
         "trained_target_tokens": 100, "valid_nll": 5.0}
        for run_name in RUNS for s, b, w in ((1, 10.0, 4.0), (2, 12.0, 6.0))])
    assert mean["baseline"][0]["bleu"] == 11.0 and mean["baseline"][0]["wall_seconds"] == 5.0
    assert (mean["random"][0]["bleu_min"], mean["random"][0]["bleu_max"]) == (10.0, 12.0)


def test_compute_matched_protocol_end_to_end(m30k_noisy, tmp_path):
    """--epochs: the baseline at budgets 0.5 and 1 of E (each with the schedule decaying at its own
    end), a rule and its random control for E epochs; final checkpoints evaluated; the CSV keeps
    its columns and adds rule and budget; the saving is reported per seed. On noisy data (a
    corrupted.json beside it) the runs record their plans and the report counts the planted pairs
    they dropped."""
    m30k = m30k_noisy
    out = tmp_path / "frontier"
    _, log = run([sys.executable, "-m", "scripts.experiment", "curve", "--data", m30k, "--arch", "tiny",
                  "--extra", "--lr-scheduler autoassist_cosine --warmup-updates 5",
                  "--epochs", "4", "--budgets", "0.5,1", "--rules", "infobatch", "--seeds", "1",
                  "--threads", "1", "--out", out])
    rows = list(csv.DictReader((out / "curve.csv").read_text().splitlines()))
    assert list(rows[0])[:len(HEADER)] == HEADER and {"rule", "budget"} <= set(rows[0])
    by_name = {(r["run"], r["rule"], r["budget"]): r for r in rows}
    assert set(by_name) == {("baseline", "", "0.5"), ("baseline", "", "1.0"),
                            ("autoassist", "infobatch", ""), ("random", "infobatch", "")}
    half, full = by_name[("baseline", "", "0.5")], by_name[("baseline", "", "1.0")]
    assert int(half["updates"]) * 2 == int(full["updates"])  # 2 and 4 full epochs
    for r in rows:
        assert r["data"] != str(m30k.resolve()) and math.isfinite(float(r["valid_nll"]))
    info = json.loads((out / "seed1" / "infobatch-random" / "train.json").read_text())
    rates = json.loads((out / "seed1" / "infobatch" / "keep_rates.json").read_text())
    assert info["keep_rates_used"] == rates and "--assistant-rule" in info["command"]
    for name in ("baseline-0.5", "baseline-1", "infobatch"):
        train_log = (out / "seed1" / name / "train.log").read_text()
        lrs = [float(r["train_lr"]) for r in log_records(train_log, "train")]
        assert lrs[-1] == 0.0  # every run's schedule ends at its floor
    summary = json.loads((out / "summary.json").read_text())
    for quality in ("valid_nll", "bleu"):
        for axis in ("trained_target_tokens", "wall_seconds"):
            s = summary["savings"]["infobatch"][quality][axis]["per_seed"]["1"]
            assert s["where"] in ("inside", "above", "below") and s["ratio_1.0"] > 0
    assert "At a glance" in log and "infobatch" in (out / "summary.md").read_text()
    # the results table is the last thing printed, with no third-party DEBUG lines before it
    table = (out / "summary.md").read_text().rstrip()
    assert table in log and log.index("] wrote ") < log.index(table)
    assert "DEBUG:" not in log

    # planted pairs: the counts in the report are those of the recorded plans
    planted = set(json.loads((m30k / "corrupted.json").read_text())["ids"])
    report = summary["planted"]
    assert report["pairs"] == len(planted)
    assert set(report["runs"]) == {"seed1/infobatch", "seed1/infobatch-random"}
    for name in ("infobatch", "infobatch-random"):
        per_epoch = report["runs"][f"seed1/{name}"]
        assert sorted(per_epoch) == ["1", "2", "3", "4"]
        train_log = (out / "seed1" / name / "train.log").read_text()
        epochs = log_records(train_log, "train")
        for e, rec in zip(("1", "2", "3", "4"), epochs):
            z = np.load(out / "seed1" / name / "plans" / f"epoch{e}.npz")
            kept, dropped = set(z["kept"].tolist()), set(z["dropped"].tolist())
            assert len(kept) == int(float(rec["train_kept_pairs"])) and not kept & dropped
            assert len(kept) + len(dropped) == int(float(rec["train_candidates"]))
            hits = len(dropped & planted)
            assert per_epoch[e]["dropped"] == len(dropped)
            assert per_epoch[e]["planted_dropped"] == hits
            assert per_epoch[e]["recall"] == round(hits / len(planted), 4)
        assert per_epoch["1"]["dropped"] == 0 and per_epoch["4"]["dropped"] == 0  # warm-up, anneal
        assert per_epoch["2"]["dropped"] > 0
    assert "Planted misaligned pairs" in (out / "summary.md").read_text()

    # the compact results: one record per run, with what the tables need
    from scripts.results import read_runs

    runs = {r["name"]: r for r in read_runs(out)}
    assert set(runs) == {"baseline-0.5", "baseline-1", "infobatch", "infobatch-random"}
    by_checkpoint = {r["checkpoint"]: r for r in rows}
    for name, record in runs.items():
        row = by_checkpoint[record["train"]["final"]["file"]]
        assert record["evals"][0]["bleu"] == pytest.approx(float(row["bleu"]), abs=1e-4)
        assert record["train"]["final"]["trained_target_tokens"] == int(row["trained_target_tokens"])
        assert "--assistant-off" in record["train"]["command"] or name.startswith("infobatch")
    assert runs["infobatch"]["keep_rates"] == rates
    for name in ("infobatch", "infobatch-random"):  # per epoch, of the planted kind(s)
        drops = runs[name]["drops"]
        assert [d["epoch"] for d in drops] == [1, 2, 3, 4]
        assert [d["dropped"] for d in drops] == [report["runs"][f"seed1/{name}"][e]["dropped"]
                                                 for e in ("1", "2", "3", "4")]
        assert set(drops[1]["recall"]) == {"misaligned"}


def test_the_runs_recorded_in_the_results_are_reused_without_their_raw_files(m30k, tmp_path):
    """A second invocation with --reuse of the first's results (its runs.jsonl) and the same work
    directory trains and evaluates nothing, even with the raw files gone: what docs/ keeps is
    enough to add runs beside committed ones."""
    import shutil

    common = [sys.executable, "-m", "scripts.experiment", "curve", "--data", m30k, "--arch",
              "tiny", "--epochs", "2", "--budgets", "1", "--rules", "", "--seeds", "1",
              "--threads", "1", "--work", tmp_path / "work"]
    run([*common, "--out", tmp_path / "first"])
    shutil.rmtree(tmp_path / "work")
    _, log = run([*common, "--out", tmp_path / "second", "--reuse", tmp_path / "first"])
    assert "reused" in log and "trained in" not in log and "BLEU" in log
    first, second = ((tmp_path / d / "curve.csv").read_text().splitlines() for d in ("first", "second"))
    assert first == second
    assert not (tmp_path / "second" / "seed1").exists()  # raw files only in --work


def test_at_a_glance_says_saves_on_or_below_the_frontier():
    """A saving above +0.5% is a saving, below -0.5% the baseline does better, in between the run
    is on the baseline's frontier (it was once called "below" with a positive saving)."""
    from scripts import frontier

    base = {"run": "baseline", "seed": 1, "budget": 1.0, "trained_target_tokens": 1000,
            "wall_seconds": 100.0, "valid_nll": 3.0, "bleu": 30.0}
    rows, savings = [base], {}
    for name, saving in (("a", 0.05), ("b", 0.003), ("c", -0.03)):
        rows.append({"run": "autoassist", "name": name, "seed": 1, "budget": None,
                     "trained_target_tokens": 800, "wall_seconds": 90.0, "valid_nll": 3.1,
                     "bleu": 29.0})
        savings[name] = {"valid_nll": {"trained_target_tokens": {
            "per_seed": {"1": {"saving": saving, "where": "inside"}}}}}
    lines = frontier.at_a_glance({"rows": rows, "savings": savings})
    assert lines[0].endswith("; saves +5.0% of the tokens the baseline needs for that quality "
                             "(its frontier)")
    assert lines[1].endswith("; on the baseline's frontier: +0.3% saving (within ±0.5%), i.e. no "
                             "saving")
    assert lines[2].endswith("; below the baseline's frontier: -3.0% saving, i.e. the baseline "
                             "reaches that quality with fewer tokens")
    assert lines[0].startswith("- seed 1 a: 0.80× the baseline's tokens and 0.90× its training "
                               "time, valid NLL +0.100 bits, BLEU -1.00")


def test_forward_only_passes_count_a_third_on_the_compute_axis():
    """A run that made forward passes without backward (skip-noise, swiftlearn) is placed on the
    frontier by its compute: trained target tokens plus a third of its forward-only tokens; runs
    without any keep the token and wall axes only."""
    from scripts import frontier

    base = [{"run": "baseline", "name": f"baseline-{b}", "seed": 1, "budget": b,
             "trained_target_tokens": t,
             "extra_forward_tokens": 0, "wall_seconds": t / 10, "valid_nll": nll, "bleu": bleu}
            for b, t, nll, bleu in ((0.5, 500, 3.5, 28.0), (1.0, 1000, 3.0, 30.0))]
    run = {"run": "autoassist", "name": "swiftlearn", "seed": 1, "budget": None,
           "trained_target_tokens": 300, "extra_forward_tokens": 600, "wall_seconds": 60.0,
           "valid_nll": 3.25, "bleu": 29.0}
    assert frontier.compute_axes(base) == frontier.AXES
    assert frontier.compute_axes(base + [run])[0] == "compute_tokens"
    # the baseline reaches 3.25 bits at 750 tokens; the run spent 300 + 600 / 3 = 500
    s = frontier.saving(base, run, "valid_nll", "compute_tokens")
    assert s["where"] == "inside" and abs(s["saving"] - (1 - 500 / 750)) < 1e-12
    assert abs(frontier.saving(base, run, "valid_nll", "trained_target_tokens")["saving"]
               - (1 - 300 / 750)) < 1e-12
    savings = frontier.savings(base + [run], [1])
    lines = frontier.at_a_glance({"rows": base + [run], "savings": savings})
    assert lines[0].startswith("- seed 1 swiftlearn: 0.30× the baseline's tokens (+ 0.60× in "
                               "forward-only passes: 0.50× its compute) and 0.60× its training")
    assert "saves +33.3% of the compute the baseline needs" in lines[0]


def test_figure_of_every_invocation_in_a_results_folder(tmp_path):
    """An untagged and a tagged invocation into one folder (the tagged one reused the untagged
    one's baselines): one figure with each baseline budget once and every rule run, the tagged
    ones named by their tag (less the rule's name it repeats)."""
    from scripts import frontier_figure

    columns = ["run", "seed", "budget", "rule", "trained_target_tokens", "wall_seconds",
               "valid_nll", "bleu", "extra_forward_tokens"]
    base = [["baseline", 1, b, "", t, t / 10, nll, bleu, 0]
            for b, t, nll, bleu in ((0.5, 500, 3.5, 28.0), (1.0, 1000, 3.0, 30.0))]
    for tag, runs in (("", [["autoassist", 1, "", "infobatch", 700, 70, 3.2, 29.0, 0],
                            ["random", 1, "", "infobatch", 700, 70, 3.3, 28.5, 0]]),
                      ("swiftlearn-keep0.1", [["autoassist", 1, "", "swiftlearn", 100, 20, 3.9, 20.0, 900],
                                   ["random", 1, "", "swiftlearn", 100, 10, 3.8, 21.0, 0]])):
        sfx = f"-{tag}" if tag else ""
        with open(tmp_path / f"curve{sfx}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns)
            w.writerows(base + runs)
        (tmp_path / f"summary{sfx}.json").write_text(json.dumps(
            {"config": {"arch": "tiny", "data_name": "d", "epochs": 8}}))
    rows = frontier_figure.rows_of(tmp_path)
    assert sorted(r["name"] for r in rows) == [
        "baseline-0.5", "baseline-1", "infobatch", "infobatch-random",
        "swiftlearn [keep0.1]", "swiftlearn-random [keep0.1]"]
    assert [r["extra_forward_tokens"] for r in rows if r["name"] == "swiftlearn [keep0.1]"] == [900]
    png = frontier_figure.write(tmp_path)
    assert png == tmp_path / "curve.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
