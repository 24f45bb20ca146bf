"""The README's results table and figure, from the committed results (the curve.csv files of
the frontier protocol under docs/): quality against compute on the clean 10k Multi30k subset and
on the same subset with 20% synthetic noise (3 seeds each, transformer-128, 16 epochs), and in
the table also swiftlearn on the clean subset and fine-tuning a Tatoeba parent on it (1 seed
each), and Tatoeba from scratch (paper, its control and the baseline over the seeds of
curve-paper-3seeds.csv, the other rules 1 seed).

    python -m scripts.experiment readme            # rewrite the table in README.md and docs/results.png
    python -m scripts.experiment readme --check    # exit 1 when README.md's table is not current
"""

import argparse
import csv
import statistics
import sys
from .common import REPO, pyplot

CLEAN = REPO / "docs" / "m30k10k-transformer128" / "curve.csv"
NOISY = REPO / "docs" / "m30k10k-mixed-transformer128" / "curve.csv"
FINETUNE = REPO / "docs" / "m30k10k-finetune-transformer128"
SWIFTLEARN = REPO / "docs" / "m30k10k-swiftlearn-transformer128" / "curve.csv"
TATOEBA = REPO / "docs" / "tatoeba-transformer128"
FIGURE = REPO / "docs" / "results.png"
BEGIN, END = "<!-- results table: python -m scripts.experiment readme -->", "<!-- end of results table -->"


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def pick(rows, run, rule="", budget=""):
    """The rows of *run* (baseline, autoassist, random) with that rule or baseline budget, one
    per seed."""
    out = [r for r in rows if r["run"] == run and r["rule"] == rule
           and (not budget or float(r["budget"] or 0) == budget)]
    if not out:
        raise SystemExit(f"readme_results: no {run} {rule or budget} rows")
    return out


def mean(rows, key):
    return statistics.fmean(float(r[key] or 0) for r in rows)


def summary():
    """[(setting, run, rows, tokens of the setting's baseline at budget 1)] of the table."""
    clean, noisy = read(CLEAN), read(NOISY)
    seeds = {r["seed"] for r in pick(clean, "baseline", budget=1.0)}
    clean_full = pick(clean, "baseline", budget=1.0)
    noisy_full = pick(noisy, "baseline", budget=1.0)
    base_c, base_n = mean(clean_full, "trained_target_tokens"), mean(noisy_full, "trained_target_tokens")
    return seeds, [
        ("clean", "baseline, 16 epochs", clean_full, base_c),
        ("clean", "baseline, 12 epochs", pick(clean, "baseline", budget=0.75), base_c),
        ("clean", "`infobatch` (default rule), 16 epochs", pick(clean, "autoassist", "infobatch"), base_c),
        ("clean", "its random control", pick(clean, "random", "infobatch"), base_c),
        ("20% noise", "baseline, 16 epochs", noisy_full, base_n),
        ("20% noise", "`skip-noise`, 16 epochs", pick(noisy, "autoassist", "skip-noise"), base_n),
        ("20% noise", "its random control", pick(noisy, "random", "skip-noise"), base_n),
        ("20% noise", "baseline on the clean subset (the upper bound)", clean_full, base_n),
        *swiftlearn_rows(),
        *tatoeba_rows(),
    ]


def swiftlearn_rows():
    """The table's rows of one seed: swiftlearn on the clean subset, and fine-tuning."""
    clean = read(SWIFTLEARN)
    base_c = mean(pick(clean, "baseline", budget=1.0), "trained_target_tokens")
    tuned = read(FINETUNE / "curve.csv")
    full = pick(tuned, "baseline", budget=1.0)
    base_t = mean(full, "trained_target_tokens")
    rows = [("clean, 1 seed", "`swiftlearn` (keep 0.5), 16 epochs", pick(clean, "autoassist", "swiftlearn"), base_c),
            ("clean, 1 seed", "its random control", pick(clean, "random", "swiftlearn"), base_c),
            ("fine-tuning, 1 seed", "baseline, 8 epochs", full, base_t),
            ("fine-tuning, 1 seed", "baseline, 2 epochs", pick(tuned, "baseline", budget=0.25), base_t),
            ("fine-tuning, 1 seed", "`infobatch`, 8 epochs", pick(tuned, "autoassist", "infobatch"), base_t)]
    tagged = read(FINETUNE / "curve-swiftlearn-keep0.1.csv")
    return rows + [("fine-tuning, 1 seed", "`swiftlearn` (keep 0.1), 8 epochs",
                    pick(tagged, "autoassist", "swiftlearn"), base_t),
                   ("fine-tuning, 1 seed", "its random control", pick(tagged, "random", "swiftlearn"), base_t)]


def tatoeba_rows():
    """The table's rows of Tatoeba from scratch: the baseline, paper and its control (the seeds of
    its -paper-3seeds invocation), infobatch and swiftlearn (seed 1)."""
    rows = read(TATOEBA / "curve.csv")
    tagged = read(TATOEBA / "curve-paper-3seeds.csv")
    n = len({r["seed"] for r in tagged})
    seeds_label = f"Tatoeba, {n} seed{'s' if n > 1 else ''}"
    full = pick(tagged, "baseline", budget=1.0)
    base = mean(full, "trained_target_tokens")
    return [(seeds_label, "baseline, 8 epochs", full, base),
            (seeds_label, "baseline, 6 epochs", pick(tagged, "baseline", budget=0.75), base),
            (seeds_label, "`paper`, 8 epochs", pick(tagged, "autoassist", "paper"), base),
            (seeds_label, "its random control", pick(tagged, "random", "paper"), base),
            ("Tatoeba, 1 seed", "`infobatch`, 8 epochs", pick(rows, "autoassist", "infobatch"), base),
            ("Tatoeba, 1 seed", "`swiftlearn` (keep 0.5), 8 epochs", pick(rows, "autoassist", "swiftlearn"), base)]


def table():
    seeds, rows = summary()
    out = [BEGIN, "",
           f"| data | run | target tokens (× the baseline's) | test BLEU | valid NLL (bits) |",
           "|---|---|---:|---:|---:|"]
    for setting, run, rs, base in rows:
        tokens = f"{mean(rs, 'trained_target_tokens') / base:.2f}"
        extra = mean(rs, "extra_forward_tokens") if "extra_forward_tokens" in rs[0] else 0
        if extra:
            tokens += f" + {extra / base:.2f} forward only"
        out.append(f"| {setting} | {run} | {tokens} | {mean(rs, 'bleu'):.2f} | "
                   f"{mean(rs, 'valid_nll'):.3f} |")
    out += ["", f"`transformer-128` on a 10k-pair Multi30k de-en subset (clean) and on the same "
            "subset with 20% of its pairs made noisy (`data_prep.corrupt --mixed`), each run's "
            f"learning rate decayed to 0 at its end; means of {len(seeds)} seeds where a row "
            "does not say how many. Fine-tuning: a parent trained 3 epochs on Tatoeba de-en (stock "
            "`--task translation`), fine-tuned on the same 10k subset encoded with its "
            "vocabulary. Tatoeba: `transformer-128` from scratch on 165k Tatoeba de-en pairs, 8 "
            "epochs. Per seed, the frontiers and the commands: [docs/README.md](docs/README.md) "
            "(clean, fine-tuning, Tatoeba), [docs/noise.md](docs/noise.md) (noise).", "", END]
    return "\n".join(out)


def figure(path):
    plt = pyplot()
    clean, noisy = read(CLEAN), read(NOISY)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    panels = [(axes[0], clean, "clean 10k Multi30k de-en", [("infobatch", "infobatch (default)")]),
              (axes[1], noisy, "the same with 20% synthetic noise", [("skip-noise", "skip-noise")])]
    for ax, rows, title, rules in panels:
        base = mean(pick(rows, "baseline", budget=1.0), "trained_target_tokens")
        budgets = sorted({float(r["budget"]) for r in rows if r["run"] == "baseline"
                          and len(pick(rows, "baseline", budget=float(r["budget"]))) > 1})
        points = [pick(rows, "baseline", budget=b) for b in budgets]
        ax.plot([mean(p, "trained_target_tokens") / base for p in points],
                [mean(p, "bleu") for p in points], "o-", color="black",
                label="baseline at 8, 12, 16 epochs (its frontier)")
        for (rule, label), color in zip(rules, ("tab:blue",)):
            for run, marker, name in (("autoassist", "s", label), ("random", "^", "random control")):
                rs = pick(rows, run, rule)
                tokens = [float(r["trained_target_tokens"]) / base for r in rs]
                c = color if run == "autoassist" else "tab:gray"
                ax.scatter(tokens, [float(r["bleu"]) for r in rs], marker=marker, alpha=0.35, color=c)
                ax.scatter([statistics.fmean(tokens)], [mean(rs, "bleu")], marker=marker, s=80,
                           color=c, label=name)
                forward = mean(rs, "extra_forward_tokens") / base if "extra_forward_tokens" in rs[0] else 0
                if forward:  # its forward-only passes, counted in full: the most they can cost
                    x = statistics.fmean(tokens)
                    ax.plot([x, x + forward], [mean(rs, "bleu")] * 2, color=c, lw=1.5, ls=":",
                            label=f"{name} + its forward-only passes")
        if rows is noisy:
            full = pick(clean, "baseline", budget=1.0)
            ax.scatter([mean(full, "trained_target_tokens") / base], [mean(full, "bleu")],
                       marker="*", s=160, color="tab:green", label="baseline on clean data")
        ax.set_title(title)
        ax.set_xlabel("trained target tokens (× the 16-epoch baseline's)")
        ax.set_ylabel("test BLEU")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("transformer-128, 16 epochs, 3 seeds (small marks: seeds; large: means)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true",
                   help="exit 1 when README.md's results table is not the one the records give")
    args = p.parse_args(argv)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"readme_results: README.md lacks the markers {BEGIN} ... {END}")
    head, rest = readme.split(BEGIN, 1)
    current = BEGIN + rest.split(END, 1)[0] + END
    if args.check:
        if current != table():
            print("readme: README.md's results table is not current: run "
                  "python -m scripts.experiment readme", file=sys.stderr)
            return 1
        return 0
    (REPO / "README.md").write_text(head + table() + rest.split(END, 1)[1], encoding="utf-8")
    figure(FIGURE)
    print(f"wrote the table of README.md and {FIGURE}")
    return 0
