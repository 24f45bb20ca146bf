"""How well the report's noise signals find known noise: every column of a report's ``pairs.csv``
scored against labels that the report never saw.

Labels come from ``labels.json`` of ``data_prep.crawl_mixture`` (one label per training pair:
``clean`` or a people's label such as V, A, L, MT) or from ``corrupted.json`` of
``data_prep.corrupt`` (the kind of every corrupted pair). Writes JSON lines, one record per
(signal, comparison), and prints a table.

* crawl labels: the AUC of each signal for A+L (misaligned, wrong language) against V (valid), for
  MT against V, and for each label against V, among the labelled crawl pairs only;
* synthetic kinds: per kind, the AUC against the clean pairs, and of the top N pairs by the signal
  (N = the number of corrupted pairs of every kind) the share of the kind's pairs found (recall)
  and, overall, the share of the top N that is corrupted (precision).

``--columns all`` scores every column of the CSV but ``id`` (e.g. the baseline of
``experiment noise-baseline``) instead of the report's signals; ``--flagged`` adds, for 0/1 columns
(1 = flagged as noise), the precision and recall of the flagged pairs.

Example::

    python -m scripts.experiment noise-eval --pairs report/pairs.csv --labels data-bin/mix/labels.json \\
        --out docs/noise/crawl-eval.jsonl
"""

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from .labels import LabelError, pair_labels

SIGNALS = ("noise_score", "heuristic_flags", "copy", "src_language", "tgt_language",
           "length_ratio", "duplicates", "contrast", "contrast_similar", "boss_loss",
           "assistant_score", "loss_mean", "relative_loss", "loss_spread", "loss_drop")
CRAWL_GROUPS = {"A+L": ("A", "L"), "MT": ("MT",), "A": ("A",), "L": ("L",), "F": ("F",),
                "E": ("E",), "T": ("T",)}


def read_pairs(path):
    """The columns of pairs.csv as float arrays (empty cells NaN)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] != "" else np.nan for r in rows])
            for k in rows[0]}


def auc(score, positive):
    """ROC AUC of *score* for *positive* (bool) among the pairs given, ties counted half; NaN
    scores rank lowest."""
    score = np.where(np.isfinite(score), score, -np.inf)
    npos, nneg = int(positive.sum()), int((~positive).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def is_binary(values):
    """Whether the finite values are all 0 or 1 (a flagged-or-not column)."""
    finite = values[np.isfinite(values)]
    return len(finite) > 0 and bool(np.isin(finite, (0, 1)).all())


def _share(mask):
    return float(mask.mean()) if len(mask) else float("nan")


def crawl_records(cols, labels, signals=SIGNALS, flagged=False):
    labels = np.asarray(labels)
    valid = labels == "V"
    out = []
    for group, members in CRAWL_GROUPS.items():
        noisy = np.isin(labels, members)
        rows = noisy | valid
        for name in signals:
            if name in cols:
                r = {"signal": name, "comparison": f"{group} vs V",
                     "positives": int(noisy.sum()), "negatives": int(valid.sum()),
                     "auc": auc(cols[name][rows], noisy[rows])}
                if flagged and is_binary(cols[name]):
                    flag = cols[name] == 1
                    r.update({"flagged_precision": _share(noisy[rows & flag]),
                              "flagged_recall": _share(flag[noisy]),
                              "flagged_rate_v": _share(flag[valid])})
                out.append(r)
    return out


def synthetic_records(cols, kind, signals=SIGNALS, flagged=False):
    corrupted = kind != "clean"
    n_top = int(corrupted.sum())
    out = []
    for name in signals:
        if name not in cols:
            continue
        score = np.where(np.isfinite(cols[name]), cols[name], -np.inf)
        top = np.zeros(len(score), dtype=bool)
        top[np.argsort(-score, kind="stable")[:n_top]] = True
        flag = cols[name] == 1 if flagged and is_binary(cols[name]) else None
        r = {"signal": name, "comparison": "all kinds vs clean", "positives": n_top,
             "auc": auc(cols[name], corrupted), "top_n": n_top,
             "precision": float(corrupted[top].mean()),
             "recall": float(top[corrupted].mean())}
        if flag is not None:
            r.update({"flagged": int(flag.sum()), "flagged_precision": _share(corrupted[flag]),
                      "flagged_recall": _share(flag[corrupted]),
                      "flagged_rate_clean": _share(flag[~corrupted])})
        out.append(r)
        for k in sorted(set(kind[corrupted])):
            this = kind == k
            rows = this | ~corrupted
            r = {"signal": name, "comparison": f"{k} vs clean",
                 "positives": int(this.sum()), "auc": auc(cols[name][rows], this[rows]),
                 "top_n": n_top, "recall": float(top[this].mean())}
            if flag is not None:  # precision among this kind's and the clean pairs
                r.update({"flagged_precision": _share(this[rows & flag]),
                          "flagged_recall": _share(flag[this])})
            out.append(r)
    return out


def evaluate(pairs, labels, columns=None, flagged=False):
    """Records for the pairs.csv *pairs* against *labels* (a labels.json or corrupted.json path);
    *columns*: the columns to score (default the report's signals; "all": every column but id)."""
    cols = read_pairs(pairs)
    if columns is None:
        signals = SIGNALS
    elif columns == "all":
        signals = tuple(k for k in cols if k != "id")
    else:
        signals = tuple(c for c in columns.split(",") if c)
        missing = [c for c in signals if c not in cols]
        if missing:
            raise SystemExit(f"error: {pairs} has no column {', '.join(missing)}")
    n = len(cols["id"])
    try:
        kind = pair_labels(labels, n)
    except LabelError as e:
        raise SystemExit(f"error: {e} ({pairs})")
    if "labels" in json.loads(Path(labels).read_text(encoding="utf-8")):  # crawl labels
        return crawl_records(cols, kind.tolist(), signals, flagged)
    return synthetic_records(cols, kind, signals, flagged)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", required=True, help="a report's pairs.csv")
    p.add_argument("--labels", required=True,
                   help="labels.json (data_prep.crawl_mixture) or corrupted.json (data_prep.corrupt)")
    p.add_argument("--out", help="write the records here (JSON lines)")
    p.add_argument("--tag", default="", help="a name stored in every record (e.g. the setting)")
    p.add_argument("--columns", help="the columns to score: 'all' (every column but id) or a "
                   "comma-separated list (default: the report's signals)")
    p.add_argument("--flagged", action="store_true",
                   help="for 0/1 columns (1 = flagged), also the precision and recall of the flagged pairs")
    args = p.parse_args(argv)
    records = evaluate(args.pairs, args.labels, args.columns, args.flagged)
    for r in records:
        r["tag"] = args.tag
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps({k: None if isinstance(v, float) and v != v else v
                                    for k, v in r.items()}, allow_nan=False) + "\n")
    width = max([18] + [len(r["signal"]) for r in records])
    for r in records:
        extra = "" if "recall" not in r else f"  recall {r['recall']:.3f}" + (
            f"  precision {r['precision']:.3f}" if "precision" in r else "")
        if "flagged_recall" in r:
            extra += (f"  flagged: precision {r['flagged_precision']:.3f}"
                      f"  recall {r['flagged_recall']:.3f}")
            for key in ("flagged_rate_v", "flagged_rate_clean"):
                if key in r:
                    extra += f"  rate {key.split('_')[-1]} {r[key]:.3f}"
        print(f"{r['comparison']:>22}  {r['signal']:<{width}} AUC {r['auc']:.3f}{extra}")
    return 0
