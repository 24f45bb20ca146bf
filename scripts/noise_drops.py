"""Which pairs a run dropped, per epoch and per kind of planted noise: from the run's plan records
(``--assistant-plan-dir``: ``epoch<N>.npz``) and ``corrupted.json`` (data_prep.corrupt). One JSON
line per epoch: pairs dropped, the share of them that were noise (precision), and per kind the
share of its pairs dropped (recall), with the share of clean pairs dropped.

    python -m scripts.noise_drops --plans runs/X/seed1/skip-noise/plans \\
        --labels data-bin/m30k_10k_mixed/corrupted.json --pairs 9984 --out drops.jsonl
"""

import argparse
import json

import numpy as np

from fairseq_autoassist.records import read_kept, read_plans


def shares(dropped, corrupted, pairs):
    """Of the pair ids *dropped*: how many, the share that were noise (precision), per kind of
    *corrupted* (a loaded corrupted.json) the share of its pairs dropped (recall), and the share
    of the clean pairs dropped, among *pairs* training pairs."""
    noisy = np.asarray(corrupted["all_ids"], dtype=np.int64)
    clean = np.setdiff1d(np.arange(pairs), noisy)
    return {"dropped": int(len(dropped)),
            "precision": float(np.isin(dropped, noisy).mean()) if len(dropped) else None,
            "recall": {k: float(np.isin(np.asarray(v["ids"], dtype=np.int64), dropped).mean())
                       for k, v in corrupted["kinds"].items()},
            "clean_dropped": float(np.isin(clean, dropped).mean())}


def drops(plans, labels, pairs):
    """The records of the module doc."""
    with open(labels, encoding="utf-8") as f:
        corrupted = json.load(f)
    return [{"epoch": int(epoch), **shares(read_kept(plans, epoch)[2], corrupted, pairs)}
            for epoch in sorted(read_plans(plans))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plans", required=True, help="the run's --assistant-plan-dir")
    p.add_argument("--labels", required=True, help="corrupted.json of the noisy corpus")
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


if __name__ == "__main__":
    main()
