"""The tables of docs/noise.md from the benchmark's evaluation records (scripts/noise_eval.py's
JSON lines in docs/noise/): the AUC of every signal on the labelled crawl pairs, and per synthetic
kind the recall of the noise score's top N.

    python -m scripts.experiment tables [--dir docs/noise]
"""

import argparse
import json
import os

KINDS = ("misaligned", "near-miss", "wrong-language", "untranslated", "untranslated-reverse",
         "templated", "misordered", "short")
CRAWL_COMPARISONS = ("A+L vs V", "A vs V", "L vs V", "MT vs V")
LOW_IS_NOISE = ("loss_spread", "loss_drop")  # the history figures that noise keeps low


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def crawl_table(records, baseline):
    by = {(r["signal"], r["comparison"]): r["auc"] for r in records + baseline}
    signals = [s for s in dict.fromkeys(r["signal"] for r in records)]
    signals += ["opusfilter_flags"] if baseline else []
    lines = ["| signal | " + " | ".join(CRAWL_COMPARISONS) + " |",
             "|---|" + "---:|" * len(CRAWL_COMPARISONS)]
    for s in signals:
        cells = [by.get((s, c)) for c in CRAWL_COMPARISONS]
        name = f"`{s}` (low = noise: read 1 − AUC)" if s in LOW_IS_NOISE else f"`{s}`"
        lines.append(f"| {name} | " + " | ".join("" if v is None else f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines)


def synthetic_table(directory):
    lines = ["| setting (20% noise) | noise score: recall = precision at top N | AUC | "
             "report's heuristic filter | opusfilter (flags) |", "|---|---:|---:|---:|---:|"]
    for kind in KINDS:
        path = os.path.join(directory, f"{kind}-eval.jsonl")
        if not os.path.isfile(path):
            lines.append(f"| {kind} | not run | | | |")
            continue
        rows = {r["signal"]: r for r in read(path) if r["comparison"] == "all kinds vs clean"}
        base = os.path.join(directory, f"{kind}-opusfilter-eval.jsonl")
        opus = {r["signal"]: r for r in read(base) if r["comparison"] == "all kinds vs clean"} \
            if os.path.isfile(base) else {}
        ns, hf = rows["noise_score"], rows["heuristic_flags"]
        of = opus.get("opusfilter_flags")
        lines.append(f"| {kind} | {ns['recall']:.3f} | {ns['auc']:.3f} | {hf['recall']:.3f} | "
                     + ("" if of is None else f"{of['recall']:.3f}") + " |")
    return "\n".join(lines)


def mixed_table(directory):
    path = os.path.join(directory, "mixed-eval.jsonl")
    if not os.path.isfile(path):
        return "(not run)"
    rows = [r for r in read(path) if r["signal"] == "noise_score"]
    lines = ["| kind | pairs | recall in the top N | AUC against clean |", "|---|---:|---:|---:|"]
    for r in rows:
        name = r["comparison"].replace(" vs clean", "")
        lines.append(f"| {name} | {r['positives']} | {r['recall']:.3f} | {r['auc']:.3f} |")
    overall = next(r for r in rows if r["comparison"] == "all kinds vs clean")
    lines.append(f"\nTop N = {overall['top_n']}: precision {overall['precision']:.3f}.")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="docs/noise", help="the evaluation records' directory")
    args = p.parse_args(argv)
    crawl = os.path.join(args.dir, "crawl-eval.jsonl")
    base = os.path.join(args.dir, "crawl-opusfilter-eval.jsonl")
    if os.path.isfile(crawl):
        print("## Real crawl: AUC among the labelled crawl pairs\n")
        print(crawl_table(read(crawl), read(base) if os.path.isfile(base) else []))
    print("\n## Synthetic kinds, one at a time\n")
    print(synthetic_table(args.dir))
    print("\n## Synthetic, every kind in equal parts (mixed)\n")
    print(mixed_table(args.dir))
    return 0
