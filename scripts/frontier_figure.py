"""One frontier figure of every invocation of ``python -m scripts.experiment curve --epochs E``
recorded in a results folder: the untagged invocation's curve.csv and each ``--tag T``'s
curve-T.csv (e.g. swiftlearn at several keep shares beside infobatch and paper), drawn into the
folder's curve.png the way scripts/frontier.py draws one invocation, each tagged run labelled with
its tag. The frontier report writes it by itself whenever the folder holds a tagged invocation.

    python -m scripts.experiment figure docs/m30k10k-finetune-transformer128
"""

import argparse
import csv
import json
from pathlib import Path

from . import results

NUMBERS = ("trained_target_tokens", "wall_seconds", "valid_nll", "bleu", "extra_forward_tokens")


def invocations(out):
    """[(tag, curve csv)] of *out*, the untagged invocation ('' ) first."""
    files = sorted(Path(out).glob("curve*.csv"), key=lambda p: (p.stem != "curve", p.stem))
    return [(p.stem[len("curve-"):] if p.stem != "curve" else "", p) for p in files]


def rows_of(out):
    """The runs of every invocation in *out* as frontier.plot reads them: each baseline budget of
    a seed once (the first invocation's: the others reused it), every other run named by its rule
    (``-random`` for the control) and, in a tagged invocation, ``[tag]`` (without a leading
    ``rule-``: ``swiftlearn [keep0.1]`` for the tag swiftlearn-keep0.1)."""
    rows, seen = [], set()
    for tag, path in invocations(out):
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                row = {k: float(r.get(k) or 0) for k in NUMBERS}
                row.update(run=r["run"], seed=int(r["seed"]), budget=None)
                if r["run"] == "baseline":
                    key = (row["seed"], float(r["budget"]))
                    if key in seen:
                        continue
                    seen.add(key)
                    row.update(name=f"baseline-{key[1]:g}", budget=key[1])
                else:
                    name = r["rule"] + ("-random" if r["run"] == "random" else "")
                    # the tag without the rule's name it often repeats (swiftlearn-keep0.1)
                    short = tag[len(r["rule"]) + 1:] if tag.startswith(r["rule"] + "-") else tag
                    row["name"] = f"{name} [{short}]" if tag else name
                rows.append(row)
    return rows


def write(out):
    """Draw every invocation of *out* into out/curve.png; returns its path."""
    from . import frontier  # which imports this module

    out = Path(out)
    rows, found = rows_of(out), invocations(out)
    if not rows:
        raise SystemExit(f"figure: no curve*.csv in {out}")
    summary = out / f"summary{results.suffix(found[0][0])}.json"
    config = json.loads(summary.read_text())["config"]
    path = out / "curve.png"
    frontier.plot(rows, sorted({r["seed"] for r in rows}), path,
                  f"{config['arch']} on {config['data_name']}, E = {config['epochs']} epochs: "
                  f"the {len(found)} invocations in {out.name}\n(a run of a tagged "
                  f"invocation: name [tag])")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="a results folder of the frontier protocol (curve*.csv, summary*.json)")
    args = p.parse_args(argv)
    print(f"wrote {write(args.out)}")
    return 0
