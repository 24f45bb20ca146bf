"""BLEU-versus-time curves of the stock baseline, AutoAssist and the random-drop control.

For each seed, on the same data, flags and seed, in this order:

* ``baseline``:   ``--task autoassist_translation --assistant-off`` (exactly stock fairseq);
* ``autoassist``: the AutoAssist default; its per-epoch keep rates are recorded;
* ``random``:     ``--assistant-scorer random --assistant-keep-rates FILE``, FILE holding the keep
  rate the autoassist run of the same seed had in each epoch (pairs dropped uniformly at random).

All three use ``--criterion autoassist_label_smoothed_cross_entropy --label-smoothing 0.1``,
``--max-update N``, a checkpoint every K updates (``--save-interval-updates K
--keep-interval-updates -1``) and ``--disable-validation``, so training time holds no evaluation.
All training runs first; then every checkpoint is evaluated, timed separately:
``fairseq-validate`` on the valid split (valid NLL) and ``fairseq-generate`` (beam 5 by default,
``--remove-bpe sentencepiece``) on the test split, scored with ``sacrebleu.corpus_bleu`` against
the detokenized references ``DATA/test.raw.TGT``.

Outputs in ``--out`` (the compact results of scripts/results.py, what docs/ keeps; with ``--tag T``
named ``curve-T.csv``, ``curve-T.png``, ``summary-T.*``):

* ``curve.csv`` with the columns of ``COLUMNS`` (one row per run, seed and checkpoint):

  - ``run``: baseline, autoassist or random; ``arch``: the preset; ``data``: the data directory
    (relative to the repository when inside it, else its name); ``seed``; ``device``: ``cpu`` or ``cuda:<GPU name>``;
  - ``checkpoint``: the checkpoint file, relative to ``--work``;
  - ``wall_seconds``: training wall-clock seconds from the first training step to this checkpoint
    (the plugin's training progress, saved with the training iterator), minus the seconds fairseq
    spent writing earlier checkpoints (its "writing took" log lines), so that a run with more,
    shorter epochs is not charged for more epoch-end checkpoint writes. No evaluation is in it;
  - ``updates``: optimizer updates; ``trained_target_tokens``: cumulative target tokens the model
    was trained on (fairseq's ``ntokens``, EOS included, all ranks; the training progress);
  - ``keep_rate``: kept / candidate pairs of the epoch the checkpoint falls in (from
    ``train_kept_pairs`` and ``train_candidates`` of fairseq's epoch train record; 1.0 for the
    baseline);
  - ``valid_nll``: ``valid_nll_loss`` as fairseq-validate reports it: base 2 (bits per target
    token, label smoothing not applied), rounded by fairseq to 3 decimals;
  - ``bleu``: sacreBLEU on the test split (the signature is printed and kept in summary.json).

* ``curve.png``: BLEU against training wall-clock time and against trained target tokens, the
  three runs per panel, the mean over seeds (x = mean over seeds of the checkpoint with the same
  update count) with a min-max band over seeds.
* ``summary.json`` and ``summary.md`` (also printed): time-to-target ratios (first checkpoint at
  which a run reaches the baseline's best BLEU, or that minus 0.5, over the first checkpoint at
  which the baseline does; in wall time and in trained tokens; on the seed-mean curves and per
  seed; a run that never reaches the target has ratio null, "not reached"), each run's final BLEU
  and valid NLL, training and evaluation seconds, the machine, the git commit and the commands.
* ``runs.jsonl``: one record per run trained here (its train.json, its evaluations, its keep
  rates).

Per run, the raw files in ``--work/seed<S>/<run>/``: ``train.log``, ``train.json`` (command,
epochs with keep rates, checkpoints), ``checkpoints/`` and ``eval/`` (fairseq-validate and
fairseq-generate outputs and one JSON per checkpoint). Running the same command again reuses
finished runs (recorded in ``--out``'s runs.jsonl or ``--reuse``'s, or trained in ``--work`` with
the same command) and evaluations, so an interrupted curve can be completed; ``--no-reuse``
starts over.
"""

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from . import frontier
from . import common, results
from .common import (COLUMNS, REPO, CurveError, child_env, data_name, log, machine_info, pyplot,
                     read_lines, relative_to, write_results)
from .evaluation import evaluate_checkpoint
from .presets import PRESETS
from .training import RESERVED, precision_of, train_command, train_run

RUNS = ("baseline", "autoassist", "random")
AXES = ("wall_seconds", "trained_target_tokens")
TARGETS = ("baseline_best", "baseline_best_minus_0.5")


# ------------------------------------------------------------------------------------- arguments
def parse_args(argv):
    presets = "\n".join(f"  {name:<18} {p['help']}" for name, p in PRESETS.items())
    parser = argparse.ArgumentParser(
        description="Train the stock baseline, AutoAssist and the random-drop control per seed, "
                    "evaluate every K-update checkpoint (valid NLL, test BLEU) and write "
                    "curve.csv, curve.png, summary.json and summary.md.",
        epilog="presets (--arch):\n" + presets,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="data directory prepared by data_prep (fairseq binaries, dict files, "
                             "test.raw.TGT, manifest.json)")
    parser.add_argument("--arch", required=True, choices=sorted(PRESETS), metavar="PRESET",
                        help="model and optimizer preset: " + ", ".join(PRESETS))
    parser.add_argument("--updates", type=int, metavar="N",
                        help="train every run for N updates (--max-update N)")
    parser.add_argument("--eval-every", type=int, metavar="K",
                        help="save and evaluate a checkpoint every K updates")
    matched = parser.add_argument_group(
        "compute-matched protocol (instead of --updates/--eval-every; scripts/frontier.py)")
    matched.add_argument("--epochs", type=int, metavar="E",
                         help="methods train E epochs; the baseline trains budget x E epochs for "
                              "each of --budgets; every run's learning rate decays to its floor "
                              "at its own end (use a preset with --lr-scheduler "
                              "autoassist_cosine); only final checkpoints are evaluated")
    matched.add_argument("--budgets", default="0.5,0.75,1", metavar="B1,B2,...",
                         help="baseline budgets as fractions of E; must include 1 (add 2 to "
                              "check that E is on the flat part) (default: 0.5,0.75,1)")
    matched.add_argument("--first-seed-budgets", default="", metavar="B1,...",
                         help="more baseline budgets, trained for the first of --seeds only "
                              "(e.g. 2: the flat-part check needs one 2E baseline; the other "
                              "seeds' frontiers then end at their largest --budgets) "
                              "(default: none)")
    matched.add_argument("--rules", default="paper,infobatch", metavar="R1,R2,...",
                         help="--assistant-rule values to run, each with its random control "
                              "(default: paper,infobatch)")
    matched.add_argument("--no-controls", action="store_true",
                         help="skip the random controls (the demo's short comparison)")
    parser.add_argument("--seeds", default="1", metavar="S1,S2,...",
                        help="comma-separated seeds; three runs per seed (default: 1)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the results: curve.csv, curve.png, summary.json, summary.md and "
                             "runs.jsonl (one record per run; scripts/results.py), the layout "
                             "docs/ keeps")
    parser.add_argument("--work", metavar="DIR",
                        help="the raw files: per run its fairseq log, checkpoints, evaluations "
                             "and plan records (default: --out; runs/NAME for an --out "
                             "docs/NAME, so that docs/ holds only the results)")
    parser.add_argument("--tag", default="", metavar="T",
                        help="name this invocation's curve.csv, summary.* and curve.png "
                             "curve-T.csv, summary-T.*, curve-T.png (another invocation into the "
                             "same --out); its records in runs.jsonl carry the tag; with "
                             "--epochs, curve.png then shows every invocation in --out")
    parser.add_argument("--reuse", action="append", default=[], metavar="DIR",
                        help="reuse the runs recorded in DIR/runs.jsonl (another experiment's "
                             "results) that have the same command and keep rates, without "
                             "training or evaluating them again (the runs of --out's own "
                             "runs.jsonl are always reused); repeatable")
    parser.add_argument("--no-reuse", action="store_true",
                        help="train every run again, even those recorded in --out (e.g. a "
                             "baseline trained again beside a method, for its wall time)")
    parser.add_argument("--cpu", action="store_true",
                        help="pass --cpu to every fairseq command (default: fairseq uses a GPU "
                             "when there is one)")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true",
                           help="pass --fp16 to fairseq-train (GPU only)")
    precision.add_argument("--bf16", action="store_true",
                           help="pass --bf16 to fairseq-train (GPU only)")
    parser.add_argument("--src", help="source language (default: from DATA/manifest.json)")
    parser.add_argument("--tgt", help="target language (default: from DATA/manifest.json)")
    parser.add_argument("--extra", default="", metavar="'FLAGS'",
                        help="more fairseq-train flags, one shell-quoted string, appended after "
                             "the preset's (so they override it), e.g. --extra '--max-tokens 1000'")
    matched.add_argument("--rule-extra", default="", metavar="'FLAGS'",
                         help="more fairseq-train flags for the rule runs and their controls "
                              "only, not the baselines (whose recorded commands, and so their "
                              "reuse, stay unchanged), e.g. --rule-extra '--assistant-base-prob 0.2'")
    parser.add_argument("--beam", type=int, default=5, help="beam size of fairseq-generate (default: 5)")
    parser.add_argument("--max-len-a", type=float, default=0, metavar="A",
                        help="fairseq-generate's --max-len-a: hypotheses stop at A * source length "
                             "+ B tokens (default: 0, fairseq's)")
    parser.add_argument("--max-len-b", type=int, default=200, metavar="B",
                        help="fairseq-generate's --max-len-b (default: 200, fairseq's); e.g. "
                             "--max-len-a 1.2 --max-len-b 10 keeps early checkpoints, which "
                             "babble to the limit, from dominating evaluation time")
    parser.add_argument("--gen-batch-size", type=int, default=128, metavar="B",
                        help="sentences per fairseq-generate batch (default: 128)")
    parser.add_argument("--valid-max-tokens", type=int, default=4096, metavar="T",
                        help="tokens per fairseq-validate batch (default: 4096)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="set OMP_NUM_THREADS and MKL_NUM_THREADS to N for every fairseq "
                             "process (default: inherit). On a CPU shared with other jobs, more "
                             "threads than free cores slows training down many times over")
    parser.add_argument("--keep-all-checkpoints", action="store_true",
                        help="keep the epoch-end and checkpoint_last.pt files that are not on the "
                             "K-update grid (default: delete them after training)")
    parser.add_argument("--train-only", action="store_true",
                        help="train (or reuse) every run, then stop without evaluating; run the "
                             "same command without this flag later to evaluate and report (lets "
                             "training run alone on a shared machine while evaluation, whose "
                             "time is not on the curve, runs beside other work)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the fairseq-train commands of the first seed and exit")
    args = parser.parse_args(argv)

    if args.epochs is not None:
        if args.updates is not None or args.eval_every is not None:
            parser.error("--epochs (the compute-matched protocol) replaces --updates/--eval-every")
        if args.epochs < 1:
            parser.error("--epochs must be >= 1")
        try:
            args.budget_list = sorted({float(b) for b in args.budgets.split(",") if b.strip()})
        except ValueError:
            parser.error(f"--budgets must be comma-separated numbers, got {args.budgets!r}")
        if 1.0 not in args.budget_list or min(args.budget_list) <= 0:
            parser.error(f"--budgets must be positive and include 1, got {args.budgets!r}")
        try:
            first = {float(b) for b in args.first_seed_budgets.split(",") if b.strip()}
        except ValueError:
            parser.error(f"--first-seed-budgets must be comma-separated numbers, "
                         f"got {args.first_seed_budgets!r}")
        if first and min(first) <= 0:
            parser.error(f"--first-seed-budgets must be positive, got {args.first_seed_budgets!r}")
        args.first_seed_budget_list = sorted(first - set(args.budget_list))
        from fairseq_autoassist.rules import RULES

        args.rule_list = [r.strip() for r in args.rules.split(",") if r.strip()]
        unknown = sorted(set(args.rule_list) - set(RULES))
        if unknown or len(set(args.rule_list)) != len(args.rule_list):
            parser.error(f"--rules must list distinct rules of {', '.join(RULES)}, "
                         f"got {args.rules!r}")
    else:
        if args.updates is None or args.eval_every is None:
            parser.error("give --updates and --eval-every (update curves) or --epochs "
                         "(the compute-matched protocol)")
        if args.updates < 1:
            parser.error("--updates must be >= 1")
        if not 1 <= args.eval_every <= args.updates:
            parser.error("--eval-every must be between 1 and --updates")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not args.seed_list or len(set(args.seed_list)) != len(args.seed_list):
        parser.error(f"--seeds must list distinct integers, got {args.seeds!r}")
    if args.beam < 1 or args.gen_batch_size < 1 or args.valid_max_tokens < 1:
        parser.error("--beam, --gen-batch-size and --valid-max-tokens must be >= 1")
    if args.tag and not all(c.isalnum() or c in "-_." for c in args.tag):
        parser.error(f"--tag must be letters, digits, '-', '_' or '.', got {args.tag!r}")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    try:
        args.extra_args = shlex.split(args.extra)
        args.rule_extra_args = shlex.split(args.rule_extra)
    except ValueError as e:
        parser.error(f"--extra: {e}")
    clash = sorted({a.split("=")[0] for a in args.extra_args + args.rule_extra_args}
                   & set(RESERVED))
    if clash:
        parser.error(f"--extra must not set {', '.join(clash)}: this script sets them")
    return args


def check_data(args):
    """Languages and reference paths; a clear error for a missing or incomplete data dir."""
    data = Path(args.data).resolve()
    if not data.is_dir():
        raise CurveError(f"data directory {args.data} does not exist; prepare one with "
                         f"python -m data_prep.multi30k --dest {args.data} (see data_prep/README.md)")
    manifest = {}
    if (data / "manifest.json").is_file():
        manifest = json.loads((data / "manifest.json").read_text())
    src, tgt = args.src or manifest.get("src"), args.tgt or manifest.get("tgt")
    if not src or not tgt:
        raise CurveError(f"{data}/manifest.json gives no languages: pass --src and --tgt")
    missing = [f"dict.{lang}.txt" for lang in (src, tgt) if not (data / f"dict.{lang}.txt").is_file()]
    for split in ("train", "valid", "test"):
        for lang in (src, tgt):
            names = [f"{split}.{src}-{tgt}.{lang}.idx", f"{split}.{tgt}-{src}.{lang}.idx"]
            if not any((data / n).is_file() for n in names):
                missing.append(names[0])
    refs = data / f"test.raw.{tgt}"
    if not refs.is_file():
        missing.append(refs.name)
    if missing:
        raise CurveError(f"data directory {data} lacks {', '.join(missing)} "
                         f"(prepare it with data_prep, see data_prep/README.md)")
    return data, src, tgt, refs



# ---------------------------------------------------------------------------------------- report
def mean_curves(rows):
    """{run: [points]} averaged over seeds at each update count present in every seed."""
    out = {}
    seeds = sorted({r["seed"] for r in rows})
    for run in RUNS:
        by_updates = {}
        for r in rows:
            if r["run"] == run:
                by_updates.setdefault(r["updates"], []).append(r)
        points = []
        for u in sorted(by_updates):
            group = by_updates[u]
            if len(group) != len(seeds):
                continue
            bleus = [g["bleu"] for g in group]
            points.append({
                "updates": u,
                "wall_seconds": sum(g["wall_seconds"] for g in group) / len(group),
                "trained_target_tokens": sum(g["trained_target_tokens"] for g in group) / len(group),
                "bleu": sum(bleus) / len(bleus), "bleu_min": min(bleus), "bleu_max": max(bleus),
                "valid_nll": sum(g["valid_nll"] for g in group) / len(group),
            })
        out[run] = points
    return out


def first_reach(points, target, axis):
    """x (*axis*) of the first point (in update order) whose BLEU reaches *target*, else None."""
    for p in sorted(points, key=lambda p: p["updates"]):
        if p["bleu"] >= target - 1e-9:
            return p[axis]
    return None


def time_to_target(curves):
    """Ratios of time (and tokens) to reach the baseline's best BLEU, and that minus 0.5."""
    best = max(p["bleu"] for p in curves["baseline"])
    out = {"baseline_best_bleu": best}
    for name, target in zip(TARGETS, (best, best - 0.5)):
        entry = {"target_bleu": target,
                 "baseline": {ax: first_reach(curves["baseline"], target, ax) for ax in AXES}}
        for run in ("autoassist", "random"):
            entry[run] = {}
            for ax in AXES:
                x = first_reach(curves.get(run, []), target, ax)
                b = entry["baseline"][ax]
                entry[run][ax] = {"reached": x is not None, "value": x,
                                  "ratio": x / b if x is not None and b else None}
        out[name] = entry
    return out


def final_stats(points):
    p = max(points, key=lambda p: p["updates"])
    return {"updates": p["updates"], "bleu": p["bleu"], "valid_nll": p["valid_nll"],
            "wall_seconds": p["wall_seconds"], "trained_target_tokens": p["trained_target_tokens"]}


def fmt_ratio(r):
    if not r["reached"]:
        return "not reached"
    return f"{r['ratio']:.3f}" if r["ratio"] is not None else "n/a"


def summary_markdown(s):
    lines = [f"# AutoAssist curve: {s['config']['arch']} on {s['config']['data']}", ""]
    c, m = s["config"], s["machine"]
    lines += [f"{c['updates']} updates, a checkpoint every {c['eval_every']}, seeds "
              f"{', '.join(map(str, c['seeds']))}, beam {c['beam']} (hypotheses at most "
              f"{c.get('max_len_a', 0):g} x source + {c.get('max_len_b', 200)} tokens), "
              f"precision {c['precision']}.", "",
              f"Machine: {m['cpu_model']}, {m['cpu_cores']} cores ({m['cpu_cores_usable']} usable), "
              f"threads {m['threads']}, load average at start {m['load_average_at_start']}, "
              f"device {m['device']}; torch {m['torch']}, fairseq {m['fairseq']}, "
              f"sacrebleu {m['sacrebleu']}, Python {m['python']}.", "",
              f"sacreBLEU: `{s['sacrebleu_signature']}`", ""]
    for scope, title in (("mean", "seed-mean curves"),):
        lines += [f"## Time to the baseline's best BLEU ({title})", ""]
        lines += ratio_table(s["ratios"][scope])
    for seed, r in s["ratios"]["per_seed"].items():
        lines += [f"### seed {seed}", ""] + ratio_table(r)
    lines += ["## Final checkpoint (seed mean)", "",
              "| run | updates | BLEU | valid NLL (bits) | train wall s | target tokens | eval s |",
              "|---|---|---|---|---|---|---|"]
    for run in RUNS:
        f = s["final"]["mean"][run]
        lines.append(f"| {run} | {f['updates']} | {f['bleu']:.2f} | {f['valid_nll']:.3f} | "
                     f"{f['wall_seconds']:.1f} | {f['trained_target_tokens']:.0f} | "
                     f"{s['eval_seconds']['mean'][run]:.1f} |")
    lines += ["", "Per seed:", "", "| seed | run | BLEU | valid NLL | train wall s | eval s |",
              "|---|---|---|---|---|---|"]
    for seed, runs in s["final"]["per_seed"].items():
        for run in RUNS:
            f = runs[run]
            lines.append(f"| {seed} | {run} | {f['bleu']:.2f} | {f['valid_nll']:.3f} | "
                         f"{f['wall_seconds']:.1f} | {s['eval_seconds']['per_seed'][seed][run]:.1f} |")
    lines += ["", "Keep rate per epoch (autoassist; random follows it):", ""]
    for seed, rates in s["keep_rates"].items():
        lines.append(f"- seed {seed}: autoassist " + ", ".join(f"{r:.3f}" for r in rates["autoassist"])
                     + "; random " + ", ".join(f"{r:.3f}" for r in rates["random"]))
    lines += ["", "wall seconds: training only (first step to checkpoint, checkpoint writing "
                  "excluded); valid NLL: fairseq's base-2 valid_nll_loss; ratio: first "
                  "checkpoint at which the run reaches the target over the baseline's, "
                  "no interpolation.", ""]
    return "\n".join(lines)


def ratio_table(r):
    lines = [f"Baseline best BLEU {r['baseline_best_bleu']:.2f}.", "",
             "| target | BLEU | baseline wall s | baseline tokens | autoassist wall | "
             "autoassist tokens | random wall | random tokens |",
             "|---|---|---|---|---|---|---|---|"]
    for name in TARGETS:
        e = r[name]
        b = e["baseline"]
        lines.append(f"| {name} | {e['target_bleu']:.2f} | {b['wall_seconds']:.1f} | "
                     f"{b['trained_target_tokens']:.0f} | "
                     + " | ".join(fmt_ratio(e[run][ax]) for run in ("autoassist", "random")
                                  for ax in AXES) + " |")
    return lines + [""]


def plot(curves, per_seed, path, title):
    plt = pyplot()
    colors = {"baseline": "black", "autoassist": "tab:blue", "random": "tab:orange"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = {"wall_seconds": "training wall-clock time (s)",
              "trained_target_tokens": "trained target tokens"}
    best = max(p["bleu"] for p in curves["baseline"])
    for ax, axis in zip(axes, AXES):
        for run in RUNS:
            pts = curves[run]
            if not pts:
                continue
            x = [p[axis] for p in pts]
            ax.plot(x, [p["bleu"] for p in pts], marker="o", ms=3, color=colors[run],
                    label=f"{run} (mean of {per_seed} seed{'s' if per_seed > 1 else ''})")
            ax.fill_between(x, [p["bleu_min"] for p in pts], [p["bleu_max"] for p in pts],
                            color=colors[run], alpha=0.2, linewidth=0)
        ax.axhline(best, color="gray", linestyle=":", linewidth=1, label="baseline best")
        ax.set_xlabel(labels[axis])
        ax.set_ylabel("test BLEU")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(args, ctx, infos, evals, machine):
    rows = []
    for (seed, run), info in infos.items():
        for ck in info["checkpoints"]:
            ev = evals[(seed, run, ck["updates"])]
            rows.append({"run": run, "arch": args.arch, "data": ctx["data_name"], "seed": seed,
                         "device": machine["device"], "checkpoint": ck["file"],
                         "wall_seconds": round(ck["wall_seconds"], 3), "updates": ck["updates"],
                         "trained_target_tokens": ck["trained_target_tokens"],
                         "keep_rate": round(ck["keep_rate"], 6),
                         "valid_nll": ev["valid_nll"], "bleu": round(ev["bleu"], 4)})
    rows.sort(key=lambda r: (r["seed"], RUNS.index(r["run"]), r["updates"]))
    out = ctx["out"]
    sfx = results.suffix(args.tag)

    curves = mean_curves(rows)
    seeds = args.seed_list
    per_seed_curves = {s: {run: [dict(r) for r in rows if r["seed"] == s and r["run"] == run]
                           for run in RUNS} for s in seeds}
    precision = precision_of(args)
    plot(curves, len(seeds), out / f"curve{sfx}.png",
         f"{args.arch} on {ctx['data'].name} ({ctx['src']}-{ctx['tgt']}), {machine['device']}, "
         f"{precision}, beam {args.beam}; band: min-max over seeds")

    eval_s = {str(s): {run: sum(evals[(s, run, ck["updates"])]["eval_seconds"]
                                for ck in infos[(s, run)]["checkpoints"]) for run in RUNS}
              for s in seeds}
    summary = {
        "config": {"data": ctx["data_name"], "src": ctx["src"], "tgt": ctx["tgt"],
                   "arch": args.arch, "preset_args": PRESETS[args.arch]["args"],
                   "extra": args.extra_args, "updates": args.updates,
                   "eval_every": args.eval_every, "seeds": seeds, "beam": args.beam,
                   "max_len_a": args.max_len_a, "max_len_b": args.max_len_b,
                   "precision": precision, "test_sentences": len(ctx["refs"]),
                   "commands": {f"seed{s}/{run}": shlex.join(
                       [ctx["relative"](a) for a in infos[(s, run)]["command"]])
                       for s in seeds for run in RUNS}},
        "machine": machine,
        "ratios": {"mean": time_to_target(curves),
                   "per_seed": {str(s): time_to_target(per_seed_curves[s]) for s in seeds}},
        "final": {"mean": {run: final_stats(curves[run]) for run in RUNS},
                  "per_seed": {str(s): {run: final_stats(per_seed_curves[s][run]) for run in RUNS}
                               for s in seeds}},
        "eval_seconds": {"mean": {run: sum(eval_s[str(s)][run] for s in seeds) / len(seeds)
                                  for run in RUNS},
                         "per_seed": eval_s, "total": sum(sum(v.values()) for v in eval_s.values())},
        "train_process_seconds": {f"seed{s}/{run}": infos[(s, run)]["process_seconds"]
                                  for s in seeds for run in RUNS},
        "keep_rates": {str(s): {run: [e["keep_rate"] for e in infos[(s, run)]["epochs"]]
                                for run in ("autoassist", "random")} for s in seeds},
        "columns": {"wall_seconds": "training seconds from the first step, checkpoint writes "
                                    "excluded, evaluation excluded",
                    "trained_target_tokens": "cumulative target tokens trained on (fairseq ntokens)",
                    "keep_rate": "kept / candidate pairs of the checkpoint's epoch (1.0 baseline)",
                    "valid_nll": "fairseq-validate valid_nll_loss, base 2 (bits per token)",
                    "bleu": "sacrebleu.corpus_bleu on the test split, beam " + str(args.beam)},
    }
    # the runs trained (or evaluated) here; those reused from records are recorded already
    records = [run_record(args, ctx, seed, run, info, evals) for (seed, run), info in infos.items()
               if (seed, run) not in ctx["reused"]]
    write_results(out, rows, COLUMNS, summary, summary_markdown, evals, records, args.tag)


def run_record(args, ctx, seed, name, info, evals):
    """The run's record in runs.jsonl: its training record, its evaluations and (the run the
    random control follows) its keep rates."""
    record = {"tag": args.tag, "seed": seed, "name": name, "train": info,
              "evals": [ev for (s, n, _), ev in sorted(evals.items(), key=lambda kv: kv[0][2])
                        if (s, n) == (seed, name)]}
    keep_file = ctx["work"] / f"seed{seed}" / name / "keep_rates.json"
    if keep_file.is_file():
        record["keep_rates"] = json.loads(keep_file.read_text())
    return record


def main(argv=None):
    args = parse_args(argv)
    try:
        data, src, tgt, refs_path = check_data(args)
        missing = [t for t in ("fairseq-train", "fairseq-validate", "fairseq-generate")
                   if shutil.which(t) is None]
        if missing:
            raise CurveError(f"{', '.join(missing)} not found on PATH: install fairseq "
                             f"(bash scripts/install.sh)")
        out = Path(args.out).resolve()
        ctx = {"data": data, "src": src, "tgt": tgt, "refs_path": refs_path,
               "refs": read_lines(refs_path), "out": out, "work": common.work_dir(args.work, out),
               "env": child_env(args.threads), "data_name": data_name(data),
               "relative": relative_to(REPO), "reused": {},
               "records": [] if args.no_reuse else [
                   r for d in [out, *args.reuse] for r in results.read_runs(d)]}
        if args.epochs is not None:
            return frontier.main(args, ctx)
        if args.dry_run:
            for run in RUNS:
                print(shlex.join(train_command(
                    args, data, src, tgt, args.seed_list[0], run,
                    ctx["work"] / f"seed{args.seed_list[0]}" / run / "checkpoints",
                    ctx["work"] / f"seed{args.seed_list[0]}" / "autoassist" / "keep_rates.json")))
            return 0
        out.mkdir(parents=True, exist_ok=True)
        machine = machine_info(args.threads, args.cpu)
        log(f"{args.arch} on {data} ({src}-{tgt}), seeds {args.seed_list}, {args.updates} "
            f"updates, a checkpoint every {args.eval_every}; device {machine['device']}, "
            f"{machine['cpu_model']}, load average {machine['load_average_at_start']}")

        if machine["device"] == "cpu" and (args.fp16 or args.bf16):
            log("warning: no GPU; --fp16/--bf16 are passed to fairseq-train, which will fail on CPU")
        infos = {}
        for seed in args.seed_list:
            for run in RUNS:
                infos[(seed, run)] = train_run(args, ctx, seed, run)
        if args.train_only:
            log("--train-only: training done; run again without it to evaluate and report")
            return 0

        evals = {}
        t0 = time.perf_counter()
        for seed in args.seed_list:
            for run in RUNS:
                run_dir = ctx["work"] / f"seed{seed}" / run
                cks = infos[(seed, run)]["checkpoints"]
                for i, ck in enumerate(cks, 1):
                    res = evaluate_checkpoint(args, ctx, run_dir, ck, ctx["reused"].get((seed, run)))
                    evals[(seed, run, ck["updates"])] = res
                    log(f"seed {seed} {run} update {ck['updates']} ({i}/{len(cks)}): "
                        f"BLEU {res['bleu']:.2f}, valid NLL {res['valid_nll']:.3f}, "
                        f"eval {res['eval_seconds']:.1f} s")
        log(f"evaluation done in {time.perf_counter() - t0:.1f} s; sacreBLEU signature: "
            + ", ".join(sorted({e['signature'] for e in evals.values()})))
        report(args, ctx, infos, evals, machine)
    except CurveError as e:
        print(f"curve: error: {e}", file=sys.stderr)
        return 1
    return 0

