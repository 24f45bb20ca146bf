"""Summarise fairseq-train / fairseq-generate logs of one or more runs (written by demo.sh):
BLEU, sentences translated, training wall time, updates, and AutoAssist's keep rate per epoch.

Usage: python scripts/summary.py RUN_DIR [RUN_DIR ...]   (each with train.log, generate.log)
"""

import re
import sys
from pathlib import Path


def simple_fields(line):
    """Fields of a fairseq ``--log-format simple`` stats line: 'key value | key value'."""
    out = {}
    for part in line.split(" | "):
        bits = part.strip().split(" ")
        if len(bits) == 2:
            out[bits[0]] = bits[1]
    return out


def summarise(run_dir):
    run_dir = Path(run_dir)
    train = (run_dir / "train.log").read_text()
    gen = (run_dir / "generate.log").read_text()
    epochs = [simple_fields(line) for line in train.splitlines() if "| train | epoch" in line]
    done = re.search(r"done training in ([\d.]+) seconds", train)
    bleu = re.search(r"BLEU\S* = ([\d.]+)", gen)
    translated = re.search(r"Translated ([\d,]+) sentences", gen)
    return {
        "run": run_dir.name,
        "bleu": float(bleu.group(1)) if bleu else float("nan"),
        "translated": int(translated.group(1).replace(",", "")) if translated else 0,
        "train_seconds": float(done.group(1)) if done else float("nan"),
        "updates": int(epochs[-1]["num_updates"]) if epochs else 0,
        "keep_rates": [float(e["keep_rate"]) for e in epochs if "keep_rate" in e],
        "auc": [e.get("assistant_auc", "-") for e in epochs],
    }


def main(argv):
    rows = [summarise(d) for d in argv]
    print(f"{'run':<12} {'BLEU':>6} {'sents':>6} {'train s':>8} {'updates':>8}  keep_rate per epoch (Assistant AUC)")
    for r in rows:
        keep = ", ".join(f"{k:.3f} ({a})" for k, a in zip(r["keep_rates"], r["auc"])) or "-"
        print(f"{r['run']:<12} {r['bleu']:>6.2f} {r['translated']:>6} {r['train_seconds']:>8.1f} "
              f"{r['updates']:>8}  {keep}")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
