"""Which pairs a ``skip-noise`` run flags at its checkpoint, per label of a labelled corpus: the
rule's own NoiseWatch rebuilt on the data (the data evidence: never trained after the warm-up)
and restored from the checkpoint (the contrast evidence of the last plan: kept with probability
--assistant-base-prob, re-measured). For runs made without ``--assistant-plan-dir``, whose
dropped ids per epoch were not recorded. Labels: ``labels.json`` (data_prep.crawl_mixture) or
``corrupted.json`` (data_prep.corrupt). Written as ``flags`` into the run's record in an
experiment's runs.jsonl (scripts/results.py), or to a JSON file.

    python -m scripts.experiment noise-flags data-bin/m30k_cs_en_crawl \\
        --path runs/m30k-cs-crawl-transformer128/seed1/skip-noise/checkpoints/checkpoint_last.pt \\
        --record docs/m30k-cs-crawl-transformer128 --seed 1 --name skip-noise
"""

import argparse
import json
from pathlib import Path

import numpy as np

from . import results
from .labels import VALID, pair_labels


def flags(data, checkpoint):
    """{"pairs", "threshold", the flagged pairs' precision and recall of noise (labels other than
    VALID), per label: pairs, data-flagged and contrast-flagged shares}."""
    from fairseq_autoassist.noise_rule import watch_noise
    from fairseq_autoassist_cli.report.load import load

    run = load(data, checkpoint)
    cfg = run.cfg.task
    if cfg.assistant_rule != "skip-noise":
        raise SystemExit(f"noise-flags: error: {checkpoint} is a run of --assistant-rule "
                         f"{cfg.assistant_rule}, not skip-noise")
    watch = watch_noise(cfg, run.tables, run.dataset, (run.task.src_dict, run.task.tgt_dict))
    watch.load_state_dict(run.noise_state)
    data_flag = watch.data > watch.threshold
    contrast_flag = (watch.evidence() > watch.threshold) & ~data_flag
    labels = pair_labels(data, len(watch.data))
    if labels is None:
        raise SystemExit(f"noise-flags: error: {data} has neither labels.json nor corrupted.json")
    per_label = {}
    for label in sorted(set(labels.tolist())):
        mask = labels == label
        per_label[label] = {"pairs": int(mask.sum()),
                            "data_flagged": round(float(data_flag[mask].mean()), 4),
                            "contrast_flagged": round(float(contrast_flag[mask].mean()), 4)}
    noisy = ~np.isin(labels, VALID)
    flagged = data_flag | contrast_flag
    return {"checkpoint_epoch": run.epoch, "pairs": int(len(labels)), "threshold": watch.threshold,
            "typical_gain": watch.typical_gain, "flagged": int(flagged.sum()),
            "precision": round(float(noisy[flagged].mean()), 4) if flagged.any() else None,
            "recall": round(float(flagged[noisy].mean()), 4) if noisy.any() else None,
            "per_label": per_label}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="the data-bin the run trained on")
    p.add_argument("--path", required=True, help="the run's checkpoint")
    p.add_argument("--record", metavar="DIR",
                   help="an experiment's results: write the flags into the record of run --name "
                        "of --seed in DIR/runs.jsonl")
    p.add_argument("--seed", type=int, help="the run's seed (with --record)")
    p.add_argument("--name", help="the run's name, e.g. skip-noise (with --record)")
    p.add_argument("--out", help="or write them to this JSON file")
    args = p.parse_args(argv)
    if bool(args.record) == bool(args.out) or (args.record and (args.seed is None or not args.name)):
        p.error("give --record DIR --seed S --name N, or --out FILE")
    result = flags(args.data, args.path)
    if args.record:
        runs = [r for r in results.read_runs(args.record)
                if int(r["seed"]) == args.seed and r["name"] == args.name]
        if len(runs) != 1:
            p.error(f"{args.record}/{results.RUNS} has {len(runs)} records of seed {args.seed} "
                    f"{args.name}, not one")
        results.write_runs(args.record, [dict(runs[0], flags=result)])
    else:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0
