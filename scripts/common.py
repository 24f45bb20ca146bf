"""Helpers of the experiment scripts: paths, logging, errors, the machine, running a command,
writing the results."""

import csv
import json
import os
import platform
import shlex
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
USER_DIR = REPO / "fairseq_autoassist"
# curve.csv: one row per run, seed and checkpoint (the protocol of --epochs adds columns)
COLUMNS = ["run", "arch", "data", "seed", "device", "checkpoint", "wall_seconds", "updates",
           "trained_target_tokens", "keep_rate", "valid_nll", "bleu"]


class CurveError(Exception):
    """A problem the user can fix (bad data directory, failed fairseq command...)."""


def pyplot():
    """matplotlib's pyplot on the Agg backend, its and PIL's loggers at WARNING: importing fairseq
    sets the root logger to DEBUG, and every plot would then print matplotlib's font search. Every
    figure of the scripts is drawn through this."""
    import logging

    for name in ("matplotlib", "PIL"):  # before the import, which logs too
        logging.getLogger(name).setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def git_commit():
    """The repository's commit (with "+changes" when the work tree differs from it), or None."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+changes" if dirty else "")


def log(msg):
    print(f"[curve {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_lines(path):
    """Lines of a text file, split on newlines only (not on Unicode line separators)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def machine_info(threads, cpu=False):
    import torch
    import fairseq
    import sacrebleu

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cuda = not cpu and torch.cuda.is_available()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu or platform.processor() or platform.machine(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "threads": threads if threads is not None else os.environ.get("OMP_NUM_THREADS", "torch default"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "fairseq": fairseq.__version__,
        "sacrebleu": sacrebleu.__version__,
        "device": f"cuda:{torch.cuda.get_device_name(0)}" if cuda else "cpu",
        "cuda": torch.version.cuda if cuda else None,
    }


def child_env(threads):
    """The environment of the fairseq processes: *threads* OpenMP/MKL threads (None: inherit)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_logged(cmd, log_path, env, echo=None):
    """Run *cmd*, writing its output to *log_path*; lines for which *echo* returns text are
    printed. Raises CurveError with the log's tail when it fails."""
    with open(log_path, "w", encoding="utf-8") as out:
        out.write("# " + shlex.join(cmd) + "\n")
        out.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=REPO, bufsize=1)
        for line in proc.stdout:
            out.write(line)
            shown = echo(line) if echo else None
            if shown:
                log(shown)
        rc = proc.wait()
    if rc != 0:
        tail = "\n".join(read_lines(log_path)[-30:])
        raise CurveError(f"{cmd[0]} failed with status {rc} (log: {log_path}):\n{tail}")


def train_pairs(data, src, tgt):
    """Training pairs of a data_prep output (its train split's source side)."""
    from fairseq.data import indexed_dataset

    for prefix in (f"train.{src}-{tgt}.{src}", f"train.{tgt}-{src}.{src}"):
        if Path(data, prefix + ".idx").is_file():
            return len(indexed_dataset.MMapIndexedDataset(str(Path(data, prefix))))
    raise CurveError(f"no train split for {src} in {data}")


def work_dir(work, out):
    """Where an experiment's raw files go: *work*; by default *out*, or runs/NAME for an *out*
    docs/NAME, so that docs/ holds only the compact results."""
    if work:
        return Path(work).resolve()
    out, docs = Path(out).resolve(), REPO / "docs"
    if out == docs or docs in out.parents:
        return REPO / "runs" / out.relative_to(docs)
    return out


def data_name(data):
    """The data directory as committed results name it: relative to the repository when inside
    it, else its name."""
    try:
        return str(Path(data).resolve().relative_to(REPO))
    except ValueError:
        return Path(data).name


def relative_to(base):
    """A function that writes paths under *base* relative to it (for committed summaries)."""
    base = str(base)

    def rel(a):
        a = str(a)
        return os.path.relpath(a, base) if a.startswith(base + os.sep) else a
    return rel


def write_results(out, rows, columns, summary, markdown, evals, records, tag=""):
    """The compact results of an experiment (scripts/results.py) in *out*: *rows* into
    ``curve.csv`` (the *columns*), *summary* (with the git commit, the machine's load average at
    the end and the sacreBLEU signature of the *evals*) into ``summary.json``, and
    ``markdown(summary)`` into ``summary.md`` (printed too), each named ``-<tag>`` with a *tag*;
    the run *records* into ``runs.jsonl``."""
    from . import results

    sfx = results.suffix(tag)
    signatures = sorted({ev["signature"] for ev in evals.values()})
    summary["git_commit"] = git_commit()
    summary["machine"] = dict(summary["machine"],
                              load_average_at_end=[round(x, 2) for x in os.getloadavg()])
    summary["sacrebleu_signature"] = signatures[0] if len(signatures) == 1 else signatures
    with open(out / f"curve{sfx}.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (out / f"summary{sfx}.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = markdown(summary)
    (out / f"summary{sfx}.md").write_text(md)
    results.write_runs(out, records)
    log(f"wrote {out / f'curve{sfx}.csv'} ({len(rows)} rows), {out / f'curve{sfx}.png'}, "
        f"{out / f'summary{sfx}.json'}, {out / f'summary{sfx}.md'}, {out / results.RUNS} "
        f"({len(records)} runs)")
    print("\n" + md, flush=True)  # the results table last
