"""Which pairs a ``skip-noise`` run flags at its checkpoint, per label of a labelled corpus: the
rule's own NoiseWatch rebuilt on the data (the data evidence: never trained after the warm-up)
and restored from the checkpoint (the contrast evidence of the last plan: kept with probability
--assistant-base-prob, re-measured). For runs made without ``--assistant-plan-dir``, whose
dropped ids per epoch were not recorded. Labels: ``labels.json`` (data_prep.crawl_mixture) or
``corrupted.json`` (data_prep.corrupt).

    python -m scripts.noise_flags data-bin/m30k_cs_en_crawl \\
        --path runs/frontier-crawl/seed1/skip-noise/checkpoints/checkpoint_last.pt --out flags.json
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def labels_of(data, pairs):
    """One label per training pair: labels.json's, or corrupted.json's kinds ('clean' elsewhere)."""
    labelled, corrupted = Path(data, "labels.json"), Path(data, "corrupted.json")
    if labelled.is_file():
        return np.asarray(json.loads(labelled.read_text(encoding="utf-8"))["labels"])
    if corrupted.is_file():
        out = np.full(pairs, "clean", dtype=object)
        for kind, record in json.loads(corrupted.read_text(encoding="utf-8"))["kinds"].items():
            out[np.asarray(record["ids"], dtype=np.int64)] = kind
        return out
    raise SystemExit(f"noise_flags: error: {data} has neither labels.json nor corrupted.json")


VALID = ("clean", "V")  # labels of pairs that are not noise: data_prep's clean pairs, valid crawl


def flags(data, checkpoint):
    """{"pairs", "threshold", the flagged pairs' precision and recall of noise (labels other than
    VALID), per label: pairs, data-flagged and contrast-flagged shares}."""
    from fairseq_autoassist.noise_rule import watch_noise
    from fairseq_autoassist_cli.report.load import load

    run = load(data, checkpoint)
    cfg = run.cfg.task
    if cfg.assistant_rule != "skip-noise":
        raise SystemExit(f"noise_flags: error: {checkpoint} is a run of --assistant-rule "
                         f"{cfg.assistant_rule}, not skip-noise")
    watch = watch_noise(cfg, run.tables, run.dataset, (run.task.src_dict, run.task.tgt_dict))
    watch.load_state_dict(run.noise_state)
    data_flag = watch.data > watch.threshold
    contrast_flag = (watch.evidence() > watch.threshold) & ~data_flag
    labels = labels_of(data, len(watch.data))
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
    p.add_argument("--out", required=True, help="JSON to write")
    args = p.parse_args(argv)
    result = flags(args.data, args.path)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
