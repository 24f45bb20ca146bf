"""The compute-matched protocol of ``python -m scripts.experiment curve --epochs E`` (docs/README.md).

For each seed, on the same data, preset and seed, with a learning-rate schedule that decays to its
floor at each run's own end (the preset's ``--lr-scheduler autoassist_cosine``, over epochs):

* ``baseline`` at each budget *b* of ``--budgets``: ``--assistant-off --max-epoch b*E``. These
  runs are the baseline's quality-versus-compute frontier (a budget of 2 shows whether E is on
  its flat part);
* for each rule *R* of ``--rules``: ``autoassist`` (``--assistant-rule R --max-epoch E``), which
  lands at its own compute, then ``random``, its control (``--assistant-scorer random``, the same
  rule on random pairs at the autoassist run's per-epoch keep rates).

Run groups (each baseline budget; each rule with its control) are trained one after another, the
group order rotated by one per seed. Only each run's final checkpoint is evaluated: valid NLL
(bits, primary) and test BLEU (beam 5 by default, every test sentence, sacreBLEU).

The saving of a run against the baseline frontier of its seed, on compute axis *x* (trained target
tokens or training wall seconds) and quality *y* (valid NLL, lower is better; BLEU, higher is
better): the frontier's compute at the run's quality, ``x_f(y)``, by linear interpolation between
the two baseline budgets that bracket *y*, and ``saving = 1 - x_run / x_f(y)``: the share of the
compute the baseline needs for the run's quality that the run did not spend (negative: the run
spent more than the baseline needs, i.e. it lies below the frontier). A run better than every
baseline point saves at least ``1 - x_run / x_max`` (``above``), one worse than every baseline point
at most ``1 - x_run / x_min`` (``below``), ``x_max``/``x_min`` the largest/smallest baseline
compute. ``frontier_ratio = x_f(y) / x(1.0)`` places the run's quality on the frontier,
``reaches_1.0`` says whether the run's quality is at least the baseline's at budget 1 (``x(1.0)``),
and ``ratio_1.0 = x_run / x(1.0)``; the goal is ``reaches_1.0`` with ``ratio_1.0 <= 0.6``.
"""

import json
import shlex
import statistics

import numpy as np

from . import common, frontier_figure, labels, results, training
from .common import CurveError, log
from .evaluation import evaluate_checkpoint
from .presets import PRESETS

QUALITY = {"valid_nll": -1, "bleu": +1}  # sign: +1 when higher is better
AXES = ("trained_target_tokens", "wall_seconds")
# extra_forward_tokens: target tokens of the skip-noise and swiftlearn rules' forward passes
# without backward; a forward pass costs about a third of a training step, so where a run made
# any, the savings and the figure also use the compute axis: trained + a third of the forward
COMPUTE = "compute_tokens"
FORWARD_COST = 1 / 3
COLUMNS = common.COLUMNS + ["rule", "budget", "epochs", "weight_mean", "extra_forward_tokens"]


def plan_runs(args, seed_index):
    """[(name, run, rule, budget, epochs)] in training order for one seed (the seed's index in
    --seeds: the first also trains --first-seed-budgets)."""
    budgets = sorted(args.budget_list + (args.first_seed_budget_list if seed_index == 0 else []))
    groups = [[(f"baseline-{b:g}", "baseline", "", b, budget_epochs(args.epochs, b))]
              for b in budgets]
    for rule in args.rule_list:
        group = [(rule, "autoassist", rule, None, args.epochs)]
        if not args.no_controls:
            group.append((f"{rule}-random", "random", rule, None, args.epochs))
        groups.append(group)
    k = seed_index % len(groups)
    return [r for g in groups[k:] + groups[:k] for r in g]


def budget_epochs(epochs, budget):
    n = budget * epochs
    if abs(n - round(n)) > 1e-9 or round(n) < 1:
        raise CurveError(f"budget {budget:g} x {epochs} epochs is not a whole number of epochs: "
                         f"choose --epochs so that every budget gives whole epochs")
    return int(round(n))


def train_command(args, ctx, seed, run, rule, epochs, save_dir, keep_rates_file=None):
    cmd = training.fairseq_train(ctx["data"], args.arch, seed, save_dir,
                                 ["--max-epoch", str(epochs), "--no-epoch-checkpoints"],
                                 src=ctx["src"], tgt=ctx["tgt"],
                                 precision=training.precision_of(args), cpu=args.cpu,
                                 extra=args.extra_args)
    if run == "baseline":
        cmd.append("--assistant-off")
    else:
        cmd += ["--assistant-rule", rule]
        if run == "random":
            cmd += ["--assistant-scorer", "random", "--assistant-keep-rates", str(keep_rates_file)]
        if ctx["planted"] is not None:  # noisy data: record which pairs were dropped
            cmd += ["--assistant-plan-dir", str(save_dir.parent / "plans")]
        cmd += args.rule_extra_args
    return cmd


def planted_dropped(plan_dir, planted, data, pairs):
    """What the run dropped, read from its plan records: per epoch, of the pairs dropped, how
    many were planted (noisy) ones, {epoch: {"dropped", "planted_dropped", "precision",
    "recall"}}; and per epoch the shares per kind or label (labels.drop_shares)."""
    from fairseq_autoassist.records import read_kept, read_plans

    planted = np.asarray(planted, dtype=np.int64)
    out, drops = {}, []
    for epoch in sorted(read_plans(plan_dir)):
        _, _, dropped = read_kept(plan_dir, epoch)
        hit = int(np.isin(dropped, planted).sum())
        out[str(epoch)] = {"dropped": int(len(dropped)), "planted_dropped": hit,
                           "precision": round(hit / len(dropped), 4) if len(dropped) else None,
                           "recall": round(hit / max(len(planted), 1), 4)}
        drops.append({"epoch": int(epoch), **labels.drop_shares(dropped, data, pairs)})
    return out, drops


def train_run(args, ctx, seed, name, run, rule, epochs):
    """Train one run (or reuse it when its command and keep rates are unchanged)."""
    seed_dir = ctx["work"] / f"seed{seed}"
    run_dir = seed_dir / name
    keep_file = seed_dir / rule / "keep_rates.json" if run == "random" else None
    cmd = train_command(args, ctx, seed, run, rule, epochs, run_dir / "checkpoints", keep_file)
    keep_rates = json.loads(keep_file.read_text()) if keep_file else None

    def describe(process_seconds, epochs_trained, checkpoints):
        info = {"name": name, "run": run, "rule": rule, "epochs": epochs, "seed": seed,
                "process_seconds": process_seconds, "epoch_records": epochs_trained,
                "final": checkpoints[-1], "weight_mean": weight_means(run_dir / "train.log")}
        if ctx["planted"] is not None and run != "baseline":
            info["planted"], info["drops"] = planted_dropped(
                run_dir / "plans", ctx["planted"], ctx["data"], ctx["pairs"])
        return info
    # recorded with paths relative to the repository, so that the run records committed under
    # docs/ (runs.jsonl) are reused by a later invocation on another checkout (--reuse)
    recorded = [ctx["relative"](a) for a in cmd]
    return training.train_or_reuse(
        cmd, run_dir, f"seed {seed} {name}", f"{epochs} epochs", ctx["env"], describe,
        keep_rates, recorded=recorded,
        keep_file=seed_dir / rule / "keep_rates.json" if run == "autoassist" else None,
        reused=training.reusable(ctx, seed, name, recorded, keep_rates))


def weight_means(log_path):
    """Per epoch, the mean loss weight of the kept pairs (the epoch train records)."""
    out = {}
    for m in training.TRAIN_RECORD.finditer(log_path.read_text(encoding="utf-8")):
        r = json.loads(m.group(1))
        if "train_weight_mean" in r:
            out[str(r["epoch"])] = float(r["train_weight_mean"])
    return out


# ------------------------------------------------------------------------------------ the saving
def frontier_compute(points, quality, y):
    """Compute at which the baseline frontier *points* [(x, quality dict)] reaches quality *y*:
    (x, where) with where in {"inside", "above", "below"}."""
    sign = QUALITY[quality]
    pts = sorted(points, key=lambda p: p[0])
    ys = [sign * q[quality] for _, q in pts]
    target = sign * y
    if target > max(ys):
        return None, "above"
    for (x0, q0), (x1, q1) in zip(pts, pts[1:]):
        y0, y1 = sign * q0[quality], sign * q1[quality]
        if min(y0, y1) <= target <= max(y0, y1) and y1 != y0 and y1 > y0:
            return x0 + (x1 - x0) * (target - y0) / (y1 - y0), "inside"
    if target <= ys[0]:
        return (pts[0][0], "inside") if target == ys[0] else (None, "below")
    # the frontier is not monotone here: the cheapest baseline point at least as good
    for (x, q), yy in zip(pts, ys):
        if yy >= target:
            return x, "inside"
    return None, "below"


def saving(baselines, run_row, quality, axis):
    """The run's saving against its seed's *baselines* rows on *axis* (see the module doc):
    ``1 - x_run / x_f(y_run)``, the compute the run spent below what the baseline frontier needs
    for the run's quality (negative: the run spent more)."""
    ref = [b for b in baselines if b["budget"] == 1.0]
    if not ref:
        raise CurveError("the protocol needs the baseline at budget 1 (--budgets must include 1)")
    x_ref, x_run = value(ref[0], axis), value(run_row, axis)
    points = [(value(b, axis), b) for b in baselines]
    x_f, where = frontier_compute(points, quality, run_row[quality])
    sign = QUALITY[quality]
    out = {"where": where, "ratio_1.0": x_run / x_ref,
           "reaches_1.0": sign * run_row[quality] >= sign * ref[0][quality]}
    if where == "inside":
        out["saving"] = 1.0 - x_run / x_f
        out["frontier_ratio"] = x_f / x_ref  # the baseline's compute for the run's quality
    elif where == "above":  # the baseline needs more than its largest budget: at least this
        out["saving"] = 1.0 - x_run / max(x for x, _ in points)
    else:  # worse than every baseline point: the baseline needs less than its smallest budget
        out["saving"] = 1.0 - x_run / min(x for x, _ in points)  # at most this
    return out


def compute_axes(rows):
    """The compute axes of *rows*: :data:`AXES`, led by the compute axis where a run made
    forward passes without backward."""
    return ((COMPUTE,) if any(r.get("extra_forward_tokens") for r in rows) else ()) + AXES


def value(row, axis):
    """The run's compute on *axis* (the compute axis: its trained target tokens plus
    :data:`FORWARD_COST` times its forward-only tokens)."""
    if axis == COMPUTE:
        return row["trained_target_tokens"] + FORWARD_COST * row.get("extra_forward_tokens", 0)
    return row[axis]


def savings(rows, seeds):
    """{name: {quality: {axis: {"per_seed": {seed: saving dict}, "mean", "min", "max"}}}}."""
    out = {}
    names = sorted({r["name"] for r in rows if r["run"] != "baseline"})
    for name in names:
        out[name] = {}
        for quality in QUALITY:
            out[name][quality] = {}
            for axis in compute_axes(rows):
                per_seed = {}
                for s in seeds:
                    base = [r for r in rows if r["seed"] == s and r["run"] == "baseline"]
                    mine = [r for r in rows if r["seed"] == s and r["name"] == name]
                    if base and mine:
                        per_seed[str(s)] = saving(base, mine[0], quality, axis)
                vals = [v["saving"] for v in per_seed.values()]
                inside = all(v["where"] == "inside" for v in per_seed.values())
                out[name][quality][axis] = {
                    "per_seed": per_seed,  # the mean only when no seed's saving is a bound
                    "mean": statistics.fmean(vals) if inside and vals else None,
                    "min": min(vals) if vals else None, "max": max(vals) if vals else None,
                    "reaches_1.0_at_0.6_every_seed": bool(per_seed) and all(
                        v["reaches_1.0"] and v["ratio_1.0"] <= 0.6 for v in per_seed.values()),
                }
    return out


def flatness(rows, seeds):
    """valid NLL at budget 1 minus at budget 2 per seed (the flat-part check), if both ran."""
    out = {}
    for s in seeds:
        b = {r["budget"]: r["valid_nll"] for r in rows if r["seed"] == s and r["run"] == "baseline"}
        if 1.0 in b and 2.0 in b:
            out[str(s)] = round(b[1.0] - b[2.0], 4)
    return out


# ------------------------------------------------------------------------------------ the report
def plot(rows, seeds, path, title):
    plt = common.pyplot()
    tokens = compute_axes(rows)[0]  # the compute axis where a run made forward-only passes
    panels = [(tokens, "valid_nll"), ("wall_seconds", "valid_nll"), (tokens, "bleu"),
              ("wall_seconds", "bleu")]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    names = sorted({r["name"] for r in rows if r["run"] != "baseline"})
    markers = "osD^vP*X"
    for ax, (x, y) in zip(axes.flat, panels):
        for i, s in enumerate(seeds):
            base = sorted((r for r in rows if r["seed"] == s and r["run"] == "baseline"),
                          key=lambda r: value(r, x))
            ax.plot([value(r, x) for r in base], [r[y] for r in base], "-", color="black",
                    alpha=0.35 + 0.65 / len(seeds), marker="|",
                    label="baseline frontier (each seed)" if i == 0 else None)
            for r in base:
                ax.annotate(f"{r['budget']:g}", (value(r, x), r[y]), fontsize=7, alpha=0.6)
            for j, name in enumerate(names):
                mine = [r for r in rows if r["seed"] == s and r["name"] == name]
                if mine:
                    ax.scatter([value(mine[0], x)], [mine[0][y]], marker=markers[j % len(markers)],
                               color=f"C{j}", label=name if i == 0 else None, zorder=3)
        ax.set_xlabel({"trained_target_tokens": "trained target tokens",
                       COMPUTE: "compute: trained target tokens + ⅓ forward-only tokens",
                       "wall_seconds": "training wall seconds"}[x])
        ax.set_ylabel({"valid_nll": "valid NLL (bits/token, lower is better)",
                       "bleu": "test BLEU"}[y])
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt_saving(v):
    if v is None or v.get("saving") is None:
        return "–"
    s = f"{100 * v['saving']:+.1f}%"
    return {"above": "≥ ", "below": "≤ "}.get(v["where"], "") + s


SAME = 0.005  # savings within ±0.5% count as none
WHAT = {"trained_target_tokens": "tokens", COMPUTE: "compute"}
LESS = {"trained_target_tokens": "fewer tokens", COMPUTE: "less compute"}


def at_a_glance(summary):
    """One plain line per method and seed: its compute and quality against the baseline at
    budget 1, and what the baseline frontier reaches with the method's tokens."""
    lines = []
    for r in summary["rows"]:
        if r["run"] == "baseline":
            continue
        ref = [b for b in summary["rows"] if b["seed"] == r["seed"] and b.get("budget") == 1.0][0]
        axis = compute_axes(summary["rows"])[0]
        s = summary["savings"][r["name"]]["valid_nll"][axis]["per_seed"].get(str(r["seed"]))
        if s is None or s["saving"] is None:
            verdict = "no saving measured"
        elif s["saving"] > SAME:
            verdict = (f"saves {fmt_saving(s)} of the {WHAT[axis]} the baseline needs for that "
                       f"quality (its frontier)")
        elif s["saving"] < -SAME:
            verdict = (f"below the baseline's frontier: {fmt_saving(s)} saving, i.e. the baseline "
                       f"reaches that quality with {LESS[axis]}")
        else:
            verdict = (f"on the baseline's frontier: {fmt_saving(s)} saving (within "
                       f"±{100 * SAME:.1f}%), i.e. no saving")
        forward = (f" (+ {r['extra_forward_tokens'] / ref['trained_target_tokens']:.2f}× in "
                   f"forward-only passes: {value(r, COMPUTE) / value(ref, COMPUTE):.2f}× its compute)"
                   if axis == COMPUTE else "")
        lines.append(
            f"- seed {r['seed']} {r['name']}: {r['trained_target_tokens'] / ref['trained_target_tokens']:.2f}× "
            f"the baseline's tokens{forward} and {r['wall_seconds'] / ref['wall_seconds']:.2f}× its "
            f"training time, valid NLL {r['valid_nll'] - ref['valid_nll']:+.3f} bits, BLEU "
            f"{r['bleu'] - ref['bleu']:+.2f} (baseline: {ref['valid_nll']:.3f} bits, "
            f"{ref['bleu']:.2f} BLEU); {verdict}")
    return lines


def summary_markdown(summary):
    c = summary["config"]
    lines = [f"# Compute-matched frontier: {c['arch']} on {c['data_name']} ({c['src']}-{c['tgt']}), "
             f"E = {c['epochs']} epochs, seeds {c['seeds']}", "",
             f"Machine: {summary['machine']['cpu_model']}, {summary['machine']['device']}; "
             f"sacreBLEU {summary['sacrebleu_signature']}", "",
             "At a glance, against the baseline trained for the full E epochs (budget 1):", "",
             *at_a_glance(summary), "",
             "| seed | run | rule | budget | epochs | updates | tokens | wall s | valid NLL | BLEU | keep rates |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        budget = "" if r["budget"] is None else f"{r['budget']:g}"
        lines.append(f"| {r['seed']} | {r['name']} | {r['rule']} | {budget} | {r['epochs']} | "
                     f"{r['updates']} | {r['trained_target_tokens']} | {r['wall_seconds']:.1f} | "
                     f"{r['valid_nll']:.3f} | {r['bleu']:.2f} | {r['keep_rates']} |")
    if summary["flatness"]:
        lines += ["", "Flat-part check (valid NLL at budget 1 minus at budget 2, bits; ≤ 0.03 "
                  "wanted): " + ", ".join(f"seed {s}: {v:+.3f}"
                                          for s, v in summary["flatness"].items())]
    lines += ["", "Saving against the baseline frontier of the same seed (1 − the run's compute / "
              "the compute at which the baseline frontier reaches the run's quality; negative: "
              "the baseline reaches that quality with less). In brackets: the run's compute as a "
              "multiple of the baseline's at budget 1, and whether it reaches that baseline's "
              "quality:", "",
              "| run | quality | axis | per seed | mean | reaches budget-1 quality at ≤ 0.6× in every seed |",
              "|---|---|---|---|---|---|"]
    for name, by_q in summary["savings"].items():
        for quality, by_axis in by_q.items():
            for axis, v in by_axis.items():
                per = ", ".join(f"{s}: {fmt_saving(x)} ({x['ratio_1.0']:.2f}×"
                                f"{', reaches' if x['reaches_1.0'] else ''})"
                                for s, x in v["per_seed"].items())
                mean = "–" if v["mean"] is None else f"{100 * v['mean']:+.1f}%"
                lines.append(f"| {name} | {quality} | {axis} | {per} | {mean} | "
                             f"{'yes' if v['reaches_1.0_at_0.6_every_seed'] else 'no'} |")
    if summary.get("planted"):
        lines += planted_table(summary["planted"])
    return "\n".join(lines) + "\n"


def planted_table(planted):
    """Markdown lines: how many of the planted (misaligned) pairs each run dropped, per epoch."""
    lines = ["", f"Planted misaligned pairs ({planted['pairs']} of the training pairs): of the "
             "pairs a run dropped in an epoch, the share that were planted (precision) and the "
             "share of planted pairs dropped (recall); epochs that dropped nothing are left out. "
             f"Random dropping gives precision ≈ the planted share.", "",
             "| run | epochs | precision per epoch | recall per epoch | mean precision | mean recall |",
             "|---|---|---|---|---|---|"]
    for run, per_epoch in planted["runs"].items():
        e = {k: v for k, v in per_epoch.items() if v["dropped"]}
        if not e:
            lines.append(f"| {run} | – | dropped nothing | | | |")
            continue
        p = [v["precision"] for v in e.values()]
        r = [v["recall"] for v in e.values()]
        lines.append(f"| {run} | {min(map(int, e))}–{max(map(int, e))} | "
                     f"{' '.join(f'{x:.2f}' for x in p)} | {' '.join(f'{x:.2f}' for x in r)} | "
                     f"{statistics.fmean(p):.3f} | {statistics.fmean(r):.3f} |")
    return lines


def report(args, ctx, infos, evals, machine):
    rows = []
    for (seed, name), info in infos.items():
        ev, fin = evals[(seed, name)], info["final"]
        budget = None
        if info["run"] == "baseline":
            budget = float(name.split("-", 1)[1])
        rows.append({
            "name": name, "run": info["run"], "arch": args.arch, "data": ctx["data_name"],
            "seed": seed, "device": machine["device"], "checkpoint": fin["file"],
            "wall_seconds": round(fin["wall_seconds"], 3), "updates": fin["updates"],
            "trained_target_tokens": fin["trained_target_tokens"],
            "keep_rate": round(sum(e["keep_rate"] for e in info["epoch_records"])
                               / max(len(info["epoch_records"]), 1), 6),
            "valid_nll": ev["valid_nll"], "bleu": round(ev["bleu"], 4), "rule": info["rule"],
            "budget": budget, "epochs": info["epochs"],
            "weight_mean": round(statistics.fmean(info["weight_mean"].values()), 4)
            if info["weight_mean"] else 1.0,
            "keep_rates": " ".join(f"{e['keep_rate']:.2f}" for e in info["epoch_records"]),
            "extra_forward_tokens": sum(e.get("noise_forward_tokens", 0)
                                        + e.get("swiftlearn_forward_tokens", 0)
                                        for e in info["epoch_records"]),
        })
    rows.sort(key=lambda r: (r["seed"], r["run"] != "baseline", r["budget"] or 0, r["name"]))
    out = ctx["out"]
    seeds = args.seed_list
    precision = training.precision_of(args)
    plot(rows, seeds, out / f"curve{results.suffix(args.tag)}.png",
         f"{args.arch} on {ctx['data_name']} ({ctx['src']}-{ctx['tgt']}), E = {args.epochs} "
         f"epochs, baseline budgets {args.budgets}, {machine['device']}, {precision}, "
         f"beam {args.beam}")
    summary = {
        "config": {"data_name": ctx["data_name"], "src": ctx["src"], "tgt": ctx["tgt"],
                   "arch": args.arch, "preset_args": PRESETS[args.arch]["args"],
                   "extra": args.extra_args, "rule_extra": args.rule_extra_args,
                   "epochs": args.epochs,
                   "budgets": args.budget_list,
                   "first_seed_budgets": args.first_seed_budget_list,
                   "rules": args.rule_list, "seeds": seeds,
                   "beam": args.beam, "precision": precision,
                   "test_sentences": len(ctx["refs"]),
                   "commands": {f"seed{s}/{n}": shlex.join(
                       [ctx["relative"](a) for a in infos[(s, n)]["command"]])
                       for (s, n) in infos}},
        "machine": machine,
        "rows": rows,
        "flatness": flatness(rows, seeds),
        "savings": savings(rows, seeds),
    }
    planted = {f"seed{s}/{n}": info["planted"] for (s, n), info in infos.items()
               if info.get("planted") is not None}
    if planted:
        summary["planted"] = {"pairs": len(ctx["planted"]), "runs": planted}
    # the runs trained (or evaluated) here; those reused from records are recorded already
    records = [run_record(args, ctx, seed, name, info, evals[(seed, name)])
               for (seed, name), info in infos.items() if (seed, name) not in ctx["reused"]]
    common.write_results(out, [dict(r, budget="" if r["budget"] is None else r["budget"])
                               for r in rows], COLUMNS, summary, summary_markdown, evals,
                         records, args.tag)
    if args.tag or len(frontier_figure.invocations(out)) > 1:
        log(f"wrote {frontier_figure.write(out)} (every invocation in {out})")


def run_record(args, ctx, seed, name, info, evaluation):
    """The run's record in runs.jsonl (scripts/results.py): its training record (what it dropped
    per epoch and kind of planted noise moved to ``drops``), its evaluation, and (a rule's run,
    which its random control follows) its keep rates."""
    train = {k: v for k, v in info.items() if k != "drops"}
    record = {"tag": args.tag, "seed": seed, "name": name, "train": train,
              "evals": [evaluation]}
    if info.get("drops"):
        record["drops"] = info["drops"]
    keep_file = ctx["work"] / f"seed{seed}" / name / "keep_rates.json"
    if info["run"] == "autoassist" and keep_file.is_file():
        record["keep_rates"] = json.loads(keep_file.read_text())
    return record


def main(args, ctx):
    """Train (or reuse) every run of every seed, then evaluate each final checkpoint and report."""
    ctx = dict(ctx, planted=labels.noisy_ids(ctx["data"]),  # the labels, read once
               pairs=common.train_pairs(ctx["data"], ctx["src"], ctx["tgt"]))
    if args.dry_run:
        for name, run, rule, budget, epochs in plan_runs(args, 0):
            d = ctx["work"] / f"seed{args.seed_list[0]}" / name
            print(shlex.join(train_command(args, ctx, args.seed_list[0], run, rule, epochs,
                                           d / "checkpoints",
                                           d.parent / rule / "keep_rates.json")))
        return 0
    ctx["out"].mkdir(parents=True, exist_ok=True)
    machine = common.machine_info(args.threads, args.cpu)
    log(f"{args.arch} on {ctx['data']} ({ctx['src']}-{ctx['tgt']}), seeds {args.seed_list}, "
        f"E = {args.epochs} epochs, baseline budgets {args.budgets}, rules {args.rules}; device "
        f"{machine['device']}, {machine['cpu_model']}, load average "
        f"{machine['load_average_at_start']}")
    infos = {}
    for i, seed in enumerate(args.seed_list):
        for name, run, rule, budget, epochs in plan_runs(args, i):
            infos[(seed, name)] = train_run(args, ctx, seed, name, run, rule, epochs)
    if args.train_only:
        log("--train-only: training done; run again without it to evaluate and report")
        return 0
    evals = {}
    for (seed, name), info in infos.items():
        ck = dict(info["final"])
        res = evaluate_checkpoint(args, ctx, ctx["work"] / f"seed{seed}" / name, ck,
                                  ctx["reused"].get((seed, name)))
        evals[(seed, name)] = res
        log(f"seed {seed} {name}: BLEU {res['bleu']:.2f}, valid NLL {res['valid_nll']:.3f}")
    report(args, ctx, infos, evals, machine)
    return 0
