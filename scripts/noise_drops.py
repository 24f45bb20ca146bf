"""Which pairs a run dropped, per epoch and per kind of planted noise: from the run's plan records
(``--assistant-plan-dir``: ``epoch<N>.npz``) and the labels (scripts/labels.py). One record per
epoch: pairs dropped, the share of them that were noise (precision), and per kind the share of
its pairs dropped (recall), with the share of clean pairs dropped. ``experiment curve --epochs``
writes them into each rule run's record on labelled data (``drops``); this is for other runs.
"""

import argparse
import json

from fairseq_autoassist.records import read_kept, read_plans

from .labels import drop_shares


def drops(plans, labels, pairs):
    """The records of the module doc."""
    return [{"epoch": int(epoch), **drop_shares(read_kept(plans, epoch)[2], labels, pairs)}
            for epoch in sorted(read_plans(plans))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plans", required=True, help="the run's --assistant-plan-dir")
    p.add_argument("--labels", required=True, help="corrupted.json of the noisy corpus (or its data directory)")
    p.add_argument("--pairs", required=True, type=int, help="training pairs of the corpus")
    p.add_argument("--out", required=True, help="JSON lines to write")
    args = p.parse_args(argv)
    records = drops(args.plans, args.labels, args.pairs)
    with open(args.out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    for r in records:
        kinds = " ".join(f"{k} {v:.2f}" for k, v in r["recall"].items())
        print(f"epoch {r['epoch']}: dropped {r['dropped']}, precision {r['precision']}, {kinds}, "
              f"clean {r['clean_dropped']:.4f}")
