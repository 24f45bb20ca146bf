#!/usr/bin/env python3
"""GPU checks (they need CUDA): mixed-precision training of the three architectures with the
plugin, and the host-device synchronisations the plugin adds to a training step.

    python -m scripts.gpu_check data-bin/m30k_10k --out gpu_check.json

Training: ``fairseq-train --task autoassist_translation`` with the default rule, ``--fp16`` and
``--bf16``, for the GPU presets of the three architectures (``transformer-iwslt``,
``fconv-iwslt``, ``lstm-iwslt``), ``--max-epoch`` epochs each, the runs side by side on the one
GPU (this part checks that they train, not how fast). Per run it reports fairseq's epoch
records (loss, keep rate, the Assistant's figures) and whether every loss was finite.

Synchronisations: one stock run (``--task translation``) and one with the Assistant on, the same
flags and ``--fp16``, each under ``torch.cuda.set_sync_debug_mode("warn")``, which warns at every
operation that makes the host wait for the GPU. It reports the count per update and where they
come from; the plugin's own are those whose source file is in ``fairseq_autoassist/``.
"""

import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .bench import boss_command
from .common import REPO, machine_info
from . import training
from .training import TRAIN_RECORD

ARCHS = ("transformer-iwslt", "fconv-iwslt", "lstm-iwslt")


def log(msg):
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def train_command(data, preset, precision, save, epochs):
    return training.fairseq_train(data, preset, 1, save, ["--max-epoch", str(epochs)],
                                  user_dir="fairseq_autoassist", precision=precision, save=False,
                                  extra=["--log-interval", "20"])


def check_training(data, epochs, precisions, timeout):
    """Every (architecture, precision) run at once; their epoch records."""
    results = []
    env = dict(os.environ, OMP_NUM_THREADS="2")  # six processes share the machine's cores
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for preset in ARCHS:
            for precision in precisions:
                cmd = train_command(data, preset, precision, Path(tmp) / f"{preset}-{precision}",
                                    epochs)
                logf = open(Path(tmp) / f"{preset}-{precision}.log", "w+")
                procs.append((preset, precision, cmd, logf, time.perf_counter(),
                              subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                               cwd=REPO, env=env)))
        for preset, precision, cmd, logf, t0, proc in procs:
            try:
                rc = proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "timeout"
            seconds = time.perf_counter() - t0
            logf.seek(0)
            text = logf.read()
            epochs_seen = [json.loads(m.group(1)) for m in TRAIN_RECORD.finditer(text)]
            losses = [float(r["train_loss"]) for r in epochs_seen]
            row = {"preset": preset, "precision": precision, "returncode": rc,
                   "seconds": round(seconds, 1), "epochs": epochs_seen,
                   "all_losses_finite": bool(losses) and all(math.isfinite(x) for x in losses),
                   "command": " ".join(cmd)}
            if rc != 0:
                row["log_tail"] = text[-3000:]
            results.append(row)
            keep = [r.get("train_keep_rate") for r in epochs_seen]
            log(f"{preset} --{precision}: rc {rc}, {len(epochs_seen)} epochs in {seconds:.0f} s, "
                f"losses {losses}, keep rates {keep}")
    return results


SYNC_RUNNER = """
import collections, json, sys, warnings
import torch
from fairseq_cli.train import cli_main
out = sys.argv.pop(1)
sys.argv[0] = "fairseq-train"
torch.cuda.set_sync_debug_mode("warn")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cli_main()
torch.cuda.set_sync_debug_mode("default")
where = collections.Counter(f"{w.filename}:{w.lineno}" for w in caught
                            if "synchronizing CUDA operation" in str(w.message))
json.dump(dict(where), open(out, "w"))
"""


def check_syncs(data, preset, updates, timeout):
    """Synchronisations per update of a stock run (a) and of the Assistant on (c)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in "ac":
            cmd = boss_command(kind, data, Path(tmp) / kind, preset, updates, ["--fp16"])
            where_file = Path(tmp) / f"{kind}.json"
            proc = subprocess.run([sys.executable, "-c", SYNC_RUNNER, str(where_file), *cmd[1:]],
                                  capture_output=True, text=True, cwd=REPO, timeout=timeout)
            if proc.returncode != 0:
                out[kind] = {"returncode": proc.returncode, "log_tail": proc.stderr[-3000:]}
                log(f"sync check {kind}: failed\n{proc.stderr[-2000:]}")
                continue
            where = json.loads(where_file.read_text())
            ours = {k: v for k, v in where.items() if "/fairseq_autoassist/" in k}
            out[kind] = {"updates": updates, "syncs": sum(where.values()),
                         "syncs_per_update": sum(where.values()) / updates,
                         "plugin_syncs": sum(ours.values()), "plugin_locations": ours,
                         "locations": dict(collections.Counter(where).most_common(25))}
            log(f"sync check {kind}: {out[kind]['syncs']} synchronisations in {updates} updates, "
                f"{out[kind]['plugin_syncs']} of them in fairseq_autoassist/ {ours}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="fairseq data directory (a joined dictionary: the presets share "
                                "embeddings)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per training run (default 3)")
    p.add_argument("--precisions", default="fp16,bf16", help="comma-separated (default fp16,bf16)")
    p.add_argument("--sync-preset", default="transformer-wmt",
                   help="preset of the synchronisation check (default transformer-wmt)")
    p.add_argument("--sync-updates", type=int, default=50,
                   help="updates per synchronisation run (default 50)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per part (default 300)")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-syncs", action="store_true")
    p.add_argument("--out", required=True, metavar="FILE.json")
    args = p.parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        sys.exit("gpu_check.py: no CUDA device")
    res = {"machine": machine_info(None), "gpu": torch.cuda.get_device_name(0),
           "torch": torch.__version__, "data": args.data}
    if not args.skip_training:
        res["training"] = check_training(args.data, args.epochs, args.precisions.split(","),
                                         args.timeout)
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    if not args.skip_syncs:
        res["syncs"] = check_syncs(args.data, args.sync_preset, args.sync_updates, args.timeout)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
