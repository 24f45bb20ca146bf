"""Each synthetic kind of noise alone: one table and one figure over the kinds (docs/noise.md),
from the committed results of ``experiment curve`` (the noisy baseline at budget 1, skip-noise and
its random control) and ``experiment offline`` (the heuristic filter's training) per kind,
beside the clean corpus's frontier.

Per kind and method: trained target tokens, forward-only tokens and wall time as multiples of the
kind's noisy baseline (one invocation per kind: the baseline, the rule, its control, then the
filter's training), valid NLL and test BLEU, the share of the BLEU gap to the clean baseline
recovered, and which pairs the method dropped: at the last epoch (the rule's plan records, in
``summary.json``'s ``planted``; the filter's ``heuristic.json``) the pairs dropped, the share of them
that were planted (precision) and the share of the planted pairs dropped (recall); then
skip-noise's precision and recall in every epoch.

    python -m scripts.experiment kinds --kinds misaligned,untranslated \\
        --noisy 'docs/m30k10k-kinds-transformer128/{kind}' \\
        --offline 'docs/m30k10k-kinds-transformer128/{kind}-filter' \\
        --clean docs/m30k10k-transformer128 --out docs/noise/kinds
"""

import argparse
import json
from pathlib import Path
from . import noise_compare
from .common import pyplot
from .noise_compare import fmt

METHODS = ("noisy baseline 1", "skip-noise", "skip-noise random control", "heuristic filter")
RUN_DIRS = {"skip-noise": "skip-noise", "skip-noise random control": "skip-noise-random"}


def epoch_drops(noisy, seed, method):
    """{epoch: {dropped, planted_dropped, precision, recall}} of the rule's (or control's) run,
    as ``experiment curve`` summed them up (summary.json's ``planted``)."""
    summary = json.loads(Path(noisy, "summary.json").read_text(encoding="utf-8"))
    runs = (summary.get("planted") or {}).get("runs", {})
    return {int(epoch): d for epoch, d in runs.get(f"seed{seed}/{RUN_DIRS[method]}", {}).items()}


def filter_drops(offline):
    path = Path(offline, "heuristic", "heuristic.json")
    if not path.is_file():
        return None
    d = json.loads(path.read_text(encoding="utf-8"))["dropped"]
    return {"dropped": d["dropped"], "precision": d.get("precision"),
            "recall": d.get("recall_all")}


def kind_points(kind, args):
    """The relate()d points of one kind (its seed with a noisy baseline at budget 1), or []."""
    noisy, offline = args.noisy.format(kind=kind), args.offline.format(kind=kind)
    if not Path(noisy, "curve.csv").is_file():
        return []
    # the filter trained right after the kind's baseline, rule and control: one invocation
    points = noise_compare.collect(noisy, args.clean, offline,
                                   wall_baselines=Path(noisy, "curve.csv"))
    seeds = {p["seed"] for p in points if p["method"] == "noisy baseline 1"}
    points = noise_compare.relate([p for p in points if p["seed"] in seeds])
    for p in points:
        p["kind"] = kind
        if p["method"] in RUN_DIRS:
            per_epoch = epoch_drops(noisy, p["seed"], p["method"])
            p["drops"] = per_epoch[max(per_epoch)] if per_epoch else None
            p["drops_per_epoch"] = per_epoch
        elif p["method"] == "heuristic filter":
            p["drops"] = filter_drops(offline)
    keep = [p for p in points if p["method"] in METHODS or p["method"].startswith("clean baseline")]
    return sorted(keep, key=lambda p: (p["seed"], noise_compare._order(p["method"])))


def markdown(points, missing):
    lines = ["| kind | method | tokens × | forward × | wall × | valid NLL (Δ) | BLEU (Δ) | "
             "gap recovered | dropped at the end | precision | recall |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in points:
        if p["method"].startswith("clean baseline"):
            continue
        d = p.get("drops") or {}
        lines.append(
            f"| {p['kind']} | {p['method']} | {fmt(p.get('tokens_ratio'))} | "
            f"{fmt(p.get('forward_ratio'))} | {fmt(p.get('wall_ratio'))} | "
            f"{p['valid_nll']:.3f} ({fmt(p.get('nll_vs_noisy'), '+.3f')}) | {p['bleu']:.2f} "
            f"({fmt(p.get('bleu_vs_noisy'), '+.2f')}) | "
            f"{fmt(p.get('gap_recovered'), '.0%')} | {d.get('dropped', '–')} | "
            f"{fmt(d.get('precision'))} | {fmt(d.get('recall'))} |")
    clean = next((p for p in points if p["method"] == "clean baseline 1"), None)
    if clean:
        lines += ["", f"Clean baseline (seed {clean['seed']}, budget 1): {clean['valid_nll']:.3f} "
                  f"bits, {clean['bleu']:.2f} BLEU, {clean['trained_target_tokens']:,.0f} tokens."]
    lines += ["", *epoch_table(points)]
    if missing:
        lines += ["", "Not run yet: " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def epoch_table(points, method="skip-noise"):
    """Markdown lines: per kind, *method*'s precision / recall of the planted pairs per epoch."""
    runs = [p for p in points if p["method"] == method and p.get("drops_per_epoch")]
    if not runs:
        return []
    epochs = sorted({e for p in runs for e in p["drops_per_epoch"]})
    lines = [f"{method}: precision / recall of the planted pairs among its drops, per epoch",
             "", "| kind | " + " | ".join(str(e) for e in epochs) + " |",
             "|---|" + "---:|" * len(epochs)]
    for p in runs:
        cells = [p["drops_per_epoch"].get(e) for e in epochs]
        lines.append(f"| {p['kind']} | " + " | ".join(
            "–" if d is None or not d["dropped"] else
            f"{fmt(d.get('precision'))} / {fmt(d.get('recall'))}" for d in cells) + " |")
    return lines


def plot(points, kinds, path):
    plt = pyplot()
    cols = min(4, len(kinds))
    rows = (len(kinds) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
    style = {"noisy baseline 1": ("s", "0.6"), "skip-noise": ("D", "C0"),
             "skip-noise random control": ("v", "C1"), "heuristic filter": ("^", "C2")}
    for ax, kind in zip(axes.flat, kinds):
        mine = [p for p in points if p["kind"] == kind]
        # the clean frontier at the budgets of the protocol (0.5, 0.75, 1); longer ones would
        # only widen the axis
        clean = sorted((p for p in mine if p["method"].startswith("clean baseline")
                        and p["budget"] <= 1), key=lambda p: p["trained_target_tokens"])
        ax.plot([p["trained_target_tokens"] / 1e6 for p in clean], [p["bleu"] for p in clean],
                "o-", color="0.3", label="clean baseline (budgets)")
        for p in mine:
            if p["method"] not in style:
                continue
            noise_compare.draw_point(ax, p, "bleu", *style[p["method"]])
        ax.set_title(kind, fontsize=9)
        ax.grid(alpha=0.3)
        ax.set_xlabel("target tokens (M)", fontsize=8)
        ax.set_ylabel("test BLEU", fontsize=8)
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("Each kind alone at 20%: test BLEU against trained (hollow) + forward-only "
                 "(filled) target tokens", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", required=True, help="comma-separated kinds, in table order")
    p.add_argument("--noisy", required=True,
                   help="experiment curve --out of a kind's noisy corpus, with {kind} for the kind")
    p.add_argument("--offline", required=True,
                   help="offline_filter.py --out of a kind, with {kind} for the kind")
    p.add_argument("--clean", required=True, help="experiment curve --out of the clean corpus")
    p.add_argument("--out", required=True, help="output prefix (.json, .md, .png)")
    args = p.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    points, done, missing = [], [], []
    for kind in kinds:
        mine = kind_points(kind, args)
        (done if mine else missing).append(kind)
        points += mine
    if not done:
        raise SystemExit("noise_kinds: no kind has a noisy baseline yet")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"points": points, "not_run": missing},
                                                   indent=1) + "\n")
    text = markdown(points, missing)
    out.with_suffix(".md").write_text(text)
    plot(points, done, out.with_suffix(".png"))
    print(text)
