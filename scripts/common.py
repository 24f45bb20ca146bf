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


def log(msg):
    print(f"[curve {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_lines(path):
    """Lines of a text file, split on newlines only (not on Unicode line separators)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def machine_info(threads):
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
    cuda = torch.cuda.is_available()
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


def child_env(args):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
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


def write_results(out, rows, columns, summary, markdown, evals):
    """The results of curve.py and its --epochs protocol: *rows* into ``out/curve.csv`` (the
    *columns*), *summary* (with the machine's load average at the end and the sacreBLEU
    signature of the *evals*) into ``summary.json``, and ``markdown(summary)`` into
    ``summary.md`` (printed too)."""
    signatures = sorted({ev["signature"] for ev in evals.values()})
    summary["machine"] = dict(summary["machine"],
                              load_average_at_end=[round(x, 2) for x in os.getloadavg()])
    summary["sacrebleu_signature"] = signatures[0] if len(signatures) == 1 else signatures
    with open(out / "curve.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    md = markdown(summary)
    (out / "summary.md").write_text(md)
    print(md, flush=True)
    log(f"wrote {out / 'curve.csv'} ({len(rows)} rows), {out / 'curve.png'}, "
        f"{out / 'summary.json'}, {out / 'summary.md'}")
