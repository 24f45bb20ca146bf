"""The compact results of an experiment: what the experiment command writes to ``--out`` and what
docs/ keeps per experiment. Raw files (checkpoints, fairseq logs, fairseq-generate outputs, plan
records) stay in the work directory (``--work``, under runs/, ignored by git).

An experiment directory holds:

* ``curve.csv`` (``curve-<tag>.csv`` for an invocation with ``--tag``): one row per run and
  evaluated checkpoint (the columns of :data:`scripts.common.COLUMNS`);
* ``summary.json`` and ``summary.md`` (``summary-<tag>.*``): the commands, the git commit, the
  machine, the sacreBLEU signature and the tables;
* ``curve.png`` (``curve-<tag>.png``): the figure; of the frontier protocol with tagged
  invocations, ``curve.png`` shows them all (scripts/frontier_figure.py);
* ``runs.jsonl``: one JSON record per run, the per-run facts the tables need:
  ``{"tag", "seed", "name", "train", "evals", ...}`` where ``train`` is the run's training record
  (command, per-epoch keep rates and end updates, checkpoints with trained target tokens and wall
  seconds, planted-noise precision and recall per epoch), ``evals`` its evaluations (valid NLL,
  BLEU, the sacreBLEU signature, seconds), and, where measured, ``keep_rates`` (the random
  control's input), ``drops`` (the dropped pairs per epoch and kind of planted noise) and
  ``flags`` (what the skip-noise rule flags at its last epoch, counts and shares per label).

The offline filter (``experiment offline``) writes ``seed<S>/offline.json`` (the warm-up run and
the report: commands, compute, the dropped pairs per kind) and ``heuristic/heuristic.json``; the
trainings on its filtered corpora are experiment directories of their own
(``seed<S>/train/``, ``heuristic/train/``).
"""

import json
import shutil
from pathlib import Path

RUNS = "runs.jsonl"


def read_runs(directory):
    """The run records of an experiment directory, in file order ([] when there are none)."""
    path = Path(directory, RUNS)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def key(record):
    return record.get("tag") or "", int(record["seed"]), record["name"]


def write_runs(directory, records):
    """Add *records* to ``runs.jsonl`` of *directory*: a record replaces the one with the same
    tag, seed and name; the file stays sorted by (tag, seed, name)."""
    merged = {key(r): r for r in read_runs(directory)}
    merged.update({key(r): r for r in records})
    Path(directory).mkdir(parents=True, exist_ok=True)
    Path(directory, RUNS).write_text(
        "".join(json.dumps(merged[k]) + "\n" for k in sorted(merged)),
        encoding="utf-8")


def portable(command):
    """*command* with every absolute path into a checkout's data-bin/ or runs/ written from
    there (records made in another checkout name their data by its absolute path)."""
    out = []
    for arg in command:
        for root in ("/data-bin/", "/runs/"):
            if arg.startswith("/") and root in arg:
                arg = arg[arg.index(root) + 1:]
                break
        out.append(arg)
    return out


# flags that only say where a run writes what it records, not how it trains (a run of another
# experiment's --work, e.g. a baseline beside a new rule, is reused by --reuse)
OUTPUT_ONLY = ("--assistant-plan-dir", "--save-dir")


def training_command(command):
    """:func:`portable` *command* without the :data:`OUTPUT_ONLY` flags and their values."""
    out, skip = [], False
    for arg in portable(command):
        if skip or arg in OUTPUT_ONLY:
            skip = not skip
            continue
        out.append(arg)
    return out


def reusable(records, seed, name, command, keep_rates):
    """The record of run *name* of *seed* trained with *command* (up to
    :func:`training_command`) and *keep_rates*, or None."""
    for r in records:
        if (int(r["seed"]) == seed and r["name"] == name
                and training_command(r["train"].get("command", [])) == training_command(command)
                and r["train"].get("keep_rates_used") == keep_rates):
            return r
    return None


def matching_eval(record, updates, beam, max_len_a, max_len_b):
    """The record's evaluation of the checkpoint at *updates* with these generation settings."""
    for ev in record.get("evals", []):
        if (ev["updates"] == updates and ev.get("beam") == beam
                and ev.get("max_len_a", 0) == max_len_a and ev.get("max_len_b", 200) == max_len_b):
            return ev
    return None


def suffix(tag):
    return f"-{tag}" if tag else ""


# --------------------------------------------------------------- converting a committed run cache
def _json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _run_dirs(records):
    """{(seed, directory name): path} of a ``records/`` directory."""
    return {(int(s.name[4:]), d.name): d for s in sorted(records.glob("seed*"))
            for d in sorted(s.iterdir()) if d.is_dir()}


def _tags(exp, dirs):
    """{(seed, directory name): (tag, name)}: the invocation (curve*.csv) of each run directory.
    A directory ``<name>-rerun`` is <name> trained again by the invocation of another curve-*.csv
    (its wall-time reference)."""
    import csv

    tags = {}
    csvs = sorted(exp.glob("curve*.csv"), key=lambda p: (p.name != "curve.csv", p.name))
    for path in csvs:
        tag = "" if path.name == "curve.csv" else path.stem[len("curve-"):]
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                seed, name = int(row["seed"]), row["checkpoint"].split("/")[1]
                if tag and (seed, name + "-rerun") in dirs:
                    tags[(seed, name + "-rerun")] = (tag, name)
                elif (seed, name) in dirs:
                    tags.setdefault((seed, name), (tag, name))
    for seed, d in dirs:
        tags.setdefault((seed, d), ("", d))
    return tags


def convert_records(exp):
    """Turn ``exp/records/seed<S>/<run>/`` (train.json, eval/*.json, keep_rates.json, flags.json,
    drops.jsonl; logs, generate outputs and plan records are dropped) into ``exp/runs.jsonl``;
    remove ``records/``."""
    exp = Path(exp)
    dirs = _run_dirs(exp / "records")
    tags = _tags(exp, dirs)
    out = []
    for (seed, d), path in dirs.items():
        tag, name = tags[(seed, d)]
        rec = {"tag": tag, "seed": seed, "name": name, "train": _json(path / "train.json"),
               "evals": [_json(p) for p in sorted(path.glob("eval/*.json"),
                                                  key=lambda p: int(p.name.split(".")[0]))]}
        if (path / "keep_rates.json").is_file():
            rec["keep_rates"] = _json(path / "keep_rates.json")
        if (path / "flags.json").is_file():
            rec["flags"] = _json(path / "flags.json")
        if (path / "drops.jsonl").is_file():
            rec["drops"] = [json.loads(line) for line in
                            (path / "drops.jsonl").read_text(encoding="utf-8").splitlines() if line]
        out.append(rec)
    write_runs(exp, out)
    shutil.rmtree(exp / "records")
    return len(out)


def convert_offline_seed(seed_dir):
    """Fold an offline filter seed's ``warmup-train.json`` and ``report-timing.json`` into its
    offline.json (``warmup``, ``report``); drop the report's own output (``report/``)."""
    seed_dir = Path(seed_dir)
    record = _json(seed_dir / "offline.json")
    warm = _json(seed_dir / "warmup-train.json")
    record["warmup"] = {"command": warm["command"], "final": warm["final"]}
    record["report"] = _json(seed_dir / "report-timing.json")
    (seed_dir / "offline.json").write_text(json.dumps(record, indent=1) + "\n")
    (seed_dir / "warmup-train.json").unlink()
    (seed_dir / "report-timing.json").unlink()
    shutil.rmtree(seed_dir / "report", ignore_errors=True)


def convert_tree(root):
    """Convert every experiment directory under *root* to the compact layout; returns what it
    did, one line per directory."""
    done = []
    for records in sorted(Path(root).rglob("records")):
        if records.is_dir() and any(records.glob("seed*")):
            done.append(f"{records.parent}: {convert_records(records.parent)} runs")
    for offline in sorted(Path(root).rglob("offline.json")):
        if (offline.parent / "warmup-train.json").is_file():
            convert_offline_seed(offline.parent)
            done.append(f"{offline.parent}: offline.json")
    for log in sorted(Path(root).rglob("*.log")):
        log.unlink()
        done.append(f"{log}: removed")
    return done


def main(argv=None):
    """``experiment convert DIR``: every experiment directory under DIR to the compact layout."""
    import argparse

    p = argparse.ArgumentParser(description="Fold the run caches (records/ trees, offline "
                                            "warm-up records, logs) under DIR into the compact "
                                            "layout of scripts/results.py.")
    p.add_argument("dir", help="e.g. docs")
    for line in convert_tree(p.parse_args(argv).dir):
        print(line)
    return 0
