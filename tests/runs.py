"""Helpers for tests that run the fairseq command-line tools as subprocesses."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fairseq_autoassist.records import read_records

REPO = Path(__file__).resolve().parents[1]
USER_DIR = str(REPO / "fairseq_autoassist")
# the paper's rule: it prunes from the second epoch to the last (the default rule, infobatch,
# anneals the last 1/8 of --max-epoch to every pair); test_pruning.py tests infobatch
AUTOASSIST = ["--user-dir", USER_DIR, "--task", "autoassist_translation",
              "--criterion", "autoassist_label_smoothed_cross_entropy", "--assistant-rule", "paper"]

ARCHS = {
    "transformer": [
        "--arch", "transformer", "--encoder-layers", "1", "--decoder-layers", "1",
        "--encoder-embed-dim", "32", "--decoder-embed-dim", "32",
        "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64",
        "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
        "--share-all-embeddings",
    ],
    "lstm": [
        "--arch", "lstm", "--encoder-layers", "1", "--decoder-layers", "1",
        "--encoder-embed-dim", "32", "--encoder-hidden-size", "32",
        "--decoder-embed-dim", "32", "--decoder-hidden-size", "32", "--decoder-out-embed-dim", "32",
    ],
    "fconv": [
        "--arch", "fconv", "--encoder-embed-dim", "32", "--decoder-embed-dim", "32",
        "--decoder-out-embed-dim", "32", "--encoder-layers", "[(32, 3)] * 2",
        "--decoder-layers", "[(32, 3)] * 2",
    ],
}
OPTIM = ["--optimizer", "adam", "--lr", "3e-3", "--lr-scheduler", "inverse_sqrt",
         "--warmup-updates", "20", "--max-tokens", "2000", "--label-smoothing", "0.1",
         "--cpu", "--seed", "1", "--log-format", "json", "--log-interval", "5"]


def run(cmd, check=True, timeout=600, env=None, **kwargs):
    """Run a command (with the variables *env* added to the environment); return (returncode,
    stdout + stderr)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, **kwargs)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{out[-6000:]}")
    return proc.returncode, out


def train_cmd(data, save_dir, *extra, arch="transformer", langs=("de", "en")):
    return ["fairseq-train", data, "-s", langs[0], "-t", langs[1], *ARCHS[arch], *OPTIM,
            "--save-dir", save_dir, *extra]


def train(data, save_dir, *extra, arch="transformer", langs=("de", "en"), check=True, env=None):
    return run(train_cmd(data, save_dir, *extra, arch=arch, langs=langs), check=check, env=env)


def log_records(log, tag):
    """JSON records of fairseq's log lines tagged *tag* (train_inner, train, valid)."""
    out = []
    for m in re.finditer(r"\| " + re.escape(tag) + r" \| (\{.*\})", log):
        out.append(json.loads(m.group(1)))
    return out


def updates_per_epoch(log):
    """Updates trained in each epoch, from fairseq's epoch train lines."""
    done = [int(r["train_num_updates"]) for r in log_records(log, "train")]
    return [b - a for a, b in zip([0] + done, done)]


def records(directory):
    """The plan records (fairseq_autoassist/records.py) in *directory*/plans.jsonl, in order; []
    when there are none. A resumed run appends to its save dir's records: slice off the lines
    the earlier run wrote."""
    if not (Path(directory) / "plans.jsonl").is_file():
        return []
    return read_records(directory)


def progress(checkpoint):
    """(trained target tokens, training seconds) saved in *checkpoint*."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    p = state["extra_state"]["train_iterator"]["training_progress"]
    return p["trained_target_tokens"], p["train_seconds"]


def plans(recs):
    """(epoch, kept, candidates, keep_rate) of each epoch plan started, from *recs*."""
    return [(r["epoch"], r["kept_pairs"], r["candidates"], r["keep_rate"])
            for r in recs if r["event"] == "plan"]


def python(*args, **kwargs):
    return run([sys.executable, *args], **kwargs)


def plan_batches(recs):
    """{epoch: batches the epoch's start plan fixed}, from *recs*."""
    return {r["epoch"]: r["batches"] for r in recs if r["event"] == "plan"}


def chunk_plans(recs):
    """(epoch, chunk, of, when, kept, pairs, rule_kept, changed, batches) of each chunk planned
    during an epoch, from *recs*."""
    return [(r["epoch"], r["chunk"], r["chunks"], r["when"], r["kept"], r["pairs"],
             r["rule_kept"], r["changed"], r["batches"]) for r in recs if r["event"] == "chunk"]


def torchrun(data, save_dir, *extra, nproc=2, arch="transformer", langs=("de", "en"), check=True,
             timeout=600, env=None):
    """fairseq-train on *nproc* CPU processes (gloo) through fairseq-autoassist-torchrun."""
    return run(torchrun_cmd(data, save_dir, *extra, nproc=nproc, arch=arch, langs=langs),
               check=check, timeout=timeout, env=env)


def torchrun_cmd(data, save_dir, *extra, nproc=2, arch="transformer", langs=("de", "en")):
    return ["fairseq-autoassist-torchrun", "--standalone", "--nproc_per_node", str(nproc), "--",
            data, "-s", langs[0], "-t", langs[1], *ARCHS[arch], *OPTIM, "--save-dir", save_dir,
            *extra]


def checksums(recs):
    """(epoch, Assistant checksum, plan checksum, batches, ranks) of each epoch plan started."""
    return [(r["epoch"], r["assistant_checksum"], r["plan_checksum"], r["batches"], r["ranks"])
            for r in recs if r["event"] == "plan"]
