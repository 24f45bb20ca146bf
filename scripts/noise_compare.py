"""Training through noise, every method beside the clean and noisy baseline frontiers: the tables
and the figure of docs/noise.md, from the runs' committed records.

Inputs (each an ``experiment curve --epochs E`` results directory with its ``curve.csv``):

* ``--noisy``: the noisy corpus's frontier (baselines at each budget, the rules and controls;
  every ``curve*.csv`` in it: one per invocation of ``experiment curve`` on the same ``--out``,
  ``--tag`` naming the others);
* ``--clean``: the clean corpus's frontier (its baselines: the upper bound);
* ``--offline``: ``experiment offline``'s ``--out``: per seed ``seed<S>/offline.json``
  (warm-up and report costs) and ``seed<S>/train/curve.csv`` (the retrain on the filtered
  corpus); ``heuristic/train/curve.csv`` (the heuristic filter's training);
* ``--oracle`` (optional): the corpus without exactly its planted pairs.

Per seed and method: trained target tokens, the target tokens of forward passes without backward
(the skip-noise rule's contrast, the offline report's), wall seconds (warm-up, report and
retrain for the offline path), valid NLL and test BLEU, with their ratios to the noisy baseline at
budget 1 of the same seed (wall time: the one trained in the same invocation, see ``collect``) and
the share of the BLEU gap between the noisy and the clean baseline recovered. Writes ``OUT.json``, ``OUT.md`` and ``OUT.png``.

    python -m scripts.experiment compare --noisy docs/m30k10k-mixed-transformer128 \\
        --clean docs/m30k10k-transformer128 --offline docs/m30k10k-mixed-offline-transformer128 \\
        --oracle docs/m30k10k-mixed-oracle-transformer128 --out docs/noise/mixed-compare
"""

import argparse
import csv
import json
import statistics
from pathlib import Path

from .common import pyplot

NUMERIC = ("trained_target_tokens", "extra_forward_tokens", "wall_seconds", "valid_nll", "bleu")


def read_curve(path):
    if not Path(path).is_file():
        return []
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["seed"] = int(r["seed"])
        r["budget"] = float(r["budget"]) if r.get("budget") else None
        for k in NUMERIC:
            r[k] = float(r[k]) if r.get(k) not in (None, "") else 0.0
    return rows


def point(row, method, **extra):
    return {"method": method, "seed": row["seed"],
            **{k: row[k] for k in NUMERIC}, **extra}


def wall_references(rows):
    """{seed: wall seconds} of the noisy baselines at budget 1 among *rows* (one invocation's)."""
    return {r["seed"]: r["wall_seconds"] for r in rows
            if r["run"] == "baseline" and r["budget"] == 1.0}


def collect(noisy, clean, offline=None, oracle=None, wall_baselines=None):
    """Every (method, seed) point of the experiment directories *noisy*, *clean*, *offline*,
    *oracle* (the options of the module doc). A point's ``wall_reference`` is the wall time of
    the same seed's noisy baseline at budget 1 trained in the same invocation: the one in the same
    curve*.csv of *noisy*, or for the offline path and the heuristic filter the one in the
    curve.csv *wall_baselines*; without one the point has no wall ratio."""
    points, seen = [], set()
    for path in sorted(Path(noisy).glob("curve*.csv")):
        rows = read_curve(path)
        walls = wall_references(rows)
        for r in rows:
            key = (r["run"], r["rule"], r["budget"], r["seed"])
            if key in seen:  # a baseline in the curve.csv of each invocation
                continue
            seen.add(key)
            extra = {"wall_reference": walls[r["seed"]]} if r["seed"] in walls else {}
            if r["run"] == "baseline":
                points.append(point(r, f"noisy baseline {r['budget']:g}", budget=r["budget"],
                                    **extra))
            elif r["run"] == "autoassist":
                points.append(point(r, r["rule"], **extra))
            elif r["run"] == "random":
                points.append(point(r, f"{r['rule']} random control", **extra))
    for r in read_curve(Path(clean, "curve.csv")):
        if r["run"] == "baseline":
            points.append(point(r, f"clean baseline {r['budget']:g}", budget=r["budget"]))
    offline_walls = wall_references(read_curve(wall_baselines)) if wall_baselines else {}

    def offline_point(r, method):
        p = point(r, method)
        if r["seed"] in offline_walls:
            p["wall_reference"] = offline_walls[r["seed"]]
        return p

    if offline:
        for seed_dir in sorted(Path(offline).glob("seed*")):
            stage = Path(seed_dir, "offline.json")
            rows = read_curve(seed_dir / "train" / "curve.csv")
            if not stage.is_file() or not rows:
                continue
            cost = json.loads(stage.read_text())
            r = rows[-1]
            p = offline_point(r, "offline path")
            p["trained_target_tokens"] += cost["warmup_target_tokens"]
            p["extra_forward_tokens"] += cost["report_forward_target_tokens"]
            p["wall_seconds"] += cost["warmup_wall_seconds"] + cost["report_wall_seconds"]
            p["dropped"] = cost["dropped"]
            points.append(p)
        for r in read_curve(Path(offline, "heuristic", "train", "curve.csv")):
            points.append(offline_point(r, "heuristic filter"))
    if oracle:
        for r in read_curve(Path(oracle, "curve.csv")):
            if r["run"] == "baseline" and r["budget"] == 1.0:
                points.append(point(r, "oracle filter"))
    return points


def relate(points, walls=True):
    """Ratios to the same seed's noisy baseline at budget 1 and the BLEU gap recovered (only where
    the clean baseline is above the noisy one: with no gap there is nothing to recover). The wall
    ratio is to the point's ``wall_reference`` (collect); without *walls* there is none."""
    ref = {p["seed"]: p for p in points if p["method"] == "noisy baseline 1"}
    clean = {p["seed"]: p for p in points if p["method"] == "clean baseline 1"}
    for p in points:
        b, c = ref.get(p["seed"]), clean.get(p["seed"])
        if b is None:
            continue
        p["tokens_ratio"] = p["trained_target_tokens"] / b["trained_target_tokens"]
        p["forward_ratio"] = p["extra_forward_tokens"] / b["trained_target_tokens"]
        if walls and "wall_reference" in p:
            p["wall_ratio"] = p["wall_seconds"] / p["wall_reference"]
        p["nll_vs_noisy"] = p["valid_nll"] - b["valid_nll"]
        p["bleu_vs_noisy"] = p["bleu"] - b["bleu"]
        if c is not None and c["bleu"] > b["bleu"]:
            p["gap_recovered"] = (p["bleu"] - b["bleu"]) / (c["bleu"] - b["bleu"])
    return points


ORDER = ["clean baseline 0.5", "clean baseline 0.75", "clean baseline 1", "clean baseline 2",
         "noisy baseline 0.5", "noisy baseline 0.75", "noisy baseline 1", "skip-noise",
         "skip-noise random control", "skip-hard", "skip-hard random control", "offline path",
         "heuristic filter", "oracle filter"]


def _order(method):
    return ORDER.index(method) if method in ORDER else len(ORDER)


def mean_rows(points):
    """Per method: the mean over the seeds it has (and which seeds)."""
    out = []
    for method in sorted({p["method"] for p in points}, key=_order):
        group = [p for p in points if p["method"] == method]
        row = {"method": method, "seeds": sorted(p["seed"] for p in group)}
        for k in NUMERIC + ("tokens_ratio", "forward_ratio", "wall_ratio", "nll_vs_noisy",
                            "bleu_vs_noisy", "gap_recovered"):
            vals = [p[k] for p in group if k in p]
            if vals:
                row[k] = statistics.fmean(vals)
        out.append(row)
    return out


def fmt(x, spec=",.2f"):
    """*x* in the format *spec* (``format(x, spec)``), or "–" where there is no value."""
    return "–" if x is None else format(x, spec)


def markdown(points, means, walls=True):
    lines = ["| method | seed | target tokens (× noisy) | extra forward (×) | wall s (×) | "
             "valid NLL (Δ) | BLEU (Δ) | gap recovered |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for p in sorted(points, key=lambda p: (p["seed"], _order(p["method"]))):
        lines.append(
            f"| {p['method']} | {p['seed']} | {p['trained_target_tokens']:,.0f} "
            f"({fmt(p.get('tokens_ratio'))}) | {p['extra_forward_tokens']:,.0f} "
            f"({fmt(p.get('forward_ratio'))}) | {p['wall_seconds']:.1f} ({fmt(p.get('wall_ratio'))}) | "
            f"{p['valid_nll']:.3f} ({fmt(p.get('nll_vs_noisy'), ',.3f')}) | {p['bleu']:.2f} "
            f"({fmt(p.get('bleu_vs_noisy'))}) | {fmt(p.get('gap_recovered'), '.0%')} |")
    lines += ["", "Wall-time ratios compare runs trained in one invocation of the scripts, one at "
              "a time; runs of another invocation (another day, another load) compare by tokens "
              "only." if walls else "Wall-time ratios left out (--no-wall-ratios): these runs' "
              "wall times were measured under different loads; they compare by tokens.",
              "", "Mean over the seeds each method has:", "",
              "| method | seeds | target tokens × | extra forward × | wall × | valid NLL | BLEU | "
              "gap recovered |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for m in means:
        lines.append(
            f"| {m['method']} | {','.join(map(str, m['seeds']))} | {fmt(m.get('tokens_ratio'))} | "
            f"{fmt(m.get('forward_ratio'))} | {fmt(m.get('wall_ratio'))} | {m['valid_nll']:.3f} | "
            f"{m['bleu']:.2f} | {fmt(m.get('gap_recovered'), '.0%')} |")
    return "\n".join(lines) + "\n"


def draw_point(ax, m, quality, marker="D", color=None):
    """One method's point at its trained plus forward-only tokens (filled), and, where it made
    forward-only passes, a hollow marker at its trained tokens alone joined to it."""
    x = (m["trained_target_tokens"] + m["extra_forward_tokens"]) / 1e6
    (mark,) = ax.plot([x], [m[quality]], marker, color=color, label=m["method"])
    if m["extra_forward_tokens"]:
        ax.plot([m["trained_target_tokens"] / 1e6, x], [m[quality]] * 2, "-",
                color=mark.get_color(), lw=0.8)
        ax.plot([m["trained_target_tokens"] / 1e6], [m[quality]], marker, mfc="none",
                color=mark.get_color())


def plot(means, path, title):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, quality, label in ((axes[0], "bleu", "test BLEU"),
                               (axes[1], "valid_nll", "valid NLL (bits)")):
        for corpus, style in (("clean", "o-"), ("noisy", "s-")):
            pts = sorted((m for m in means if m["method"].startswith(f"{corpus} baseline")),
                         key=lambda m: m["trained_target_tokens"])
            if pts:
                ax.plot([m["trained_target_tokens"] / 1e6 for m in pts], [m[quality] for m in pts],
                        style, color="0.3" if corpus == "clean" else "0.6",
                        label=f"{corpus} baseline (budgets)")
        for m in means:
            if "baseline" not in m["method"]:
                draw_point(ax, m, quality)
        ax.set_xlabel("target tokens: trained (hollow) + forward-only (filled), millions")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--noisy", required=True, help="experiment curve --out of the noisy corpus")
    p.add_argument("--clean", required=True, help="experiment curve --out of the clean corpus")
    p.add_argument("--offline", help="scripts/offline_filter.py --out")
    p.add_argument("--oracle", help="experiment curve --out of the corpus without its planted pairs")
    p.add_argument("--wall-baselines",
                   help="a curve.csv with the noisy baselines at budget 1 retrained in the "
                        "invocation of --offline's trainings: their wall-time reference "
                        "(without it they have no wall ratio)")
    p.add_argument("--no-wall-ratios", action="store_true",
                   help="leave the wall-time ratios out: the runs' wall times were not measured "
                        "under the same load (say how they compare in the text)")
    p.add_argument("--seeds", help="only these seeds, comma-separated (default: those with a "
                                   "noisy baseline at budget 1)")
    p.add_argument("--out", required=True, help="output prefix (.json, .md, .png)")
    p.add_argument("--title", default="Training through noise: mean over the seeds each method has",
                   help="the figure's title")
    args = p.parse_args(argv)
    points = collect(args.noisy, args.clean, args.offline, args.oracle, args.wall_baselines)
    keep = ({int(s) for s in args.seeds.split(",")} if args.seeds else
            {q["seed"] for q in points if q["method"] == "noisy baseline 1"})
    points = [q for q in points if q["seed"] in keep]
    points = relate(points, walls=not args.no_wall_ratios)
    means = mean_rows(points)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"points": points, "means": means}, indent=1)
                                        + "\n")
    text = markdown(points, means, walls=not args.no_wall_ratios)
    out.with_suffix(".md").write_text(text)
    plot(means, out.with_suffix(".png"), args.title)
    print(text)
