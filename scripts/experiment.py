"""The experiment command: every way to run, compare and tabulate AutoAssist experiments.

    python -m scripts.experiment COMMAND [options]     (from the repository root)
    python -m scripts.experiment COMMAND --help        (the options of COMMAND)

Each experiment writes its compact results (curve.csv, summary.json, summary.md, curve.png,
runs.jsonl: scripts/results.py) to ``--out``, the layout docs/ keeps, and its raw files
(checkpoints, logs, generate outputs, plan records) to ``--work`` under runs/.
"""

import importlib
import sys

# command: (module of scripts/, what it does)
COMMANDS = {
    "curve": ("curve", "train and evaluate the baseline, AutoAssist and the random control: "
                       "update curves (--updates, --eval-every) or the compute-matched frontier "
                       "(--epochs, --budgets, --rules)"),
    "offline": ("offline_filter", "the offline filtering path: warm-up, the data report, the "
                                  "filtered corpora (then curve on each)"),
    "noise-bench": ("noise_bench", "the noise benchmark of docs/noise.md: a noisy corpus, a "
                                   "run, the data report, every signal scored against the labels"),
    "noise-eval": ("noise_eval", "score the report's signals (pairs.csv) against the labels"),
    "noise-baseline": ("noise_baseline", "the opusfilter-style baseline signals of a corpus"),
    "noise-drops": ("noise_drops", "which pairs a run dropped per epoch and kind (from its plan records)"),
    "noise-flags": ("noise_flags", "what a skip-noise run flags at its checkpoint, per label "
                                   "(into its record in runs.jsonl)"),
    "compare": ("noise_compare", "training through noise: every method beside the clean and "
                                 "noisy frontiers (table and figure)"),
    "kinds": ("noise_kinds", "each kind of noise alone (table and figure)"),
    "tables": ("noise_tables", "the benchmark tables of docs/noise.md"),
    "figure": ("frontier_figure", "one frontier figure of every invocation (--tag) recorded in a "
                                  "results folder (its curve.png)"),
    "readme": ("readme_results", "the README's results table and docs/results.png"),
    "bench": ("bench", "what AutoAssist costs (docs/performance.md)"),
    "scale": ("report_scale", "the data report on a WMT14-sized synthetic corpus"),
    "convert": ("results", "fold a run cache (records/ trees) into the compact layout"),
    "presets": ("presets", "print a preset's fairseq-train flags, one per line"),
}


def usage():
    width = max(map(len, COMMANDS))
    return (__doc__.split("\n\n")[0] + "\n\nusage: python -m scripts.experiment COMMAND "
            "[options]\n\ncommands:\n" + "\n".join(f"  {name:<{width}}  {text}"
                                                   for name, (_, text) in COMMANDS.items()))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f"\nexperiment: unknown command {argv[0]!r}", file=sys.stderr)
        return 2
    name = argv[0]
    module = importlib.import_module(f"scripts.{COMMANDS[name][0]}")
    sys.argv[0] = f"python -m scripts.experiment {name}"  # argparse's prog
    return module.main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
