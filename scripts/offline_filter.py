"""The offline filtering path of docs/noise.md, as a user would run it, up to the filtered corpus:
train on the noisy corpus for the warm-up epoch(s) → ``fairseq-autoassist-report`` with
``--write-filtered`` → the corpus without the flagged pairs. Also the report's heuristic filter
(``heuristic_flags`` > 0: length ratio, language, copy; data only) from the same report.

Per seed, in the work directory ``--work/seed<S>/`` (raw files):

* ``warmup/``: ``fairseq-train`` with AutoAssist's defaults for ``--warmup-epochs`` epochs (the
  preset's schedule decays over those epochs), its ``train.log`` and checkpoint;
* ``report/``: the report on the warm-up checkpoint, with ``--write-filtered filtered/
  --drop-noise-above Z`` (the text a user would give to data_prep);
* ``data-offline/``: the noisy data-bin without the same pairs (``data_prep.subset``: the same
  dictionaries, so that the retrain differs from the noisy baseline only by the filter);

and in the results ``--out/seed<S>/offline.json``: the cost of this stage (warm-up target tokens
and wall seconds, the report's wall seconds and the target tokens of its forward passes), the
warm-up's and the report's commands and, with labels (corrupted.json, labels.json), the dropped
pairs per kind of planted noise or label.

``--work/heuristic/data-heuristic/`` is the noisy data-bin without the pairs with
``heuristic_flags`` > 0 (the same for every seed: the flags read the data only) and
``--out/heuristic/heuristic.json`` its drops per kind. Train each filtered data-bin with
``python -m scripts.experiment curve --epochs E --budgets 1 --rules ''`` (the frontier
protocol's baseline at budget 1) into ``--out/seed<S>/train`` and ``--out/heuristic/train``; the
offline path's compute is this stage's plus that training's.

    python -m scripts.experiment offline --data data-bin/m30k_10k_mixed --arch transformer-128 \\
        --seeds 1,2,3 --threads 2 --out docs/m30k10k-mixed-offline-transformer128
"""

import argparse
import json
import shlex
import shutil
import time
from pathlib import Path

import numpy as np

from . import common, labels, training
from .common import CurveError, log
from .noise_eval import read_pairs
from .presets import PRESETS

# the report's Boss passes over the valid split: the own source and the --other-sources others
VALID_PASSES_BEYOND_OTHERS = 1


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, metavar="DIR", help="the noisy data-bin (data_prep)")
    p.add_argument("--arch", required=True, choices=sorted(PRESETS), metavar="PRESET",
                   help="a preset of scripts/presets.py")
    p.add_argument("--seeds", default="1", metavar="S1,S2,...", help="training seeds")
    p.add_argument("--warmup-epochs", type=int, default=1, metavar="W",
                   help="epochs of the warm-up training before the report (default: 1, "
                        "AutoAssist's warm-up)")
    p.add_argument("--drop-noise-above", type=float, default=2.0, metavar="Z",
                   help="drop the pairs whose report noise score is above Z (default: 2; "
                        "the report's score, not the skip-noise rule's evidence)")
    p.add_argument("--other-sources", type=int, default=4, metavar="N",
                   help="the report's --other-sources (default: 4)")
    p.add_argument("--threads", type=int, metavar="N", help="OMP_NUM_THREADS of every command")
    p.add_argument("--extra", default="", metavar="'FLAGS'",
                   help="more fairseq-train flags for the warm-up training")
    p.add_argument("--cpu", action="store_true",
                   help="pass --cpu to fairseq-train and the report (default: a GPU when there "
                        "is one)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the results: seed<S>/offline.json, heuristic/heuristic.json")
    p.add_argument("--work", metavar="DIR",
                   help="the raw files: the warm-up runs, the reports, the filtered data-bins "
                        "(default: --out; runs/NAME for an --out docs/NAME)")
    args = p.parse_args(argv)
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.extra_args = shlex.split(args.extra)
    if args.warmup_epochs < 1:
        p.error("--warmup-epochs must be >= 1")
    return args


def target_tokens(data, split, src, tgt):
    """Target tokens (EOS included) of a split of a data_prep output."""
    from fairseq.data import indexed_dataset

    for prefix in (f"{split}.{src}-{tgt}.{tgt}", f"{split}.{tgt}-{src}.{tgt}"):
        if Path(data, prefix + ".idx").is_file():
            dataset = indexed_dataset.MMapIndexedDataset(str(Path(data, prefix)))
            return int(dataset.sizes.sum())  # (sizes lives in the dataset's memory map)
    raise CurveError(f"no {split} split for {tgt} in {data}")


def subset_once(data, dest, drop):
    """data_prep.subset of *data* without *drop* into *dest*, unless *dest* holds those drops."""
    from data_prep.subset import subset

    record = Path(dest, "subset.json")
    if record.is_file() and json.loads(record.read_text())["dropped"] == sorted(map(int, drop)):
        log(f"{dest}: already written, reused")
        return
    if Path(dest).exists():
        shutil.rmtree(dest)
    subset(data, dest, drop)


def one_seed(args, work, data, src, tgt, seed, env):
    seed_dir = Path(work, f"seed{seed}")
    warm = seed_dir / "warmup"
    cmd = training.fairseq_train(data, args.arch, seed, warm / "checkpoints",
                                 ["--max-epoch", str(args.warmup_epochs), "--no-epoch-checkpoints"],
                                 src=src, tgt=tgt, cpu=args.cpu, extra=args.extra_args)
    info = training.finished_run(warm, cmd, None, f"seed {seed} warm-up")
    if info is None:
        log(f"seed {seed}: warm-up, {args.warmup_epochs} epoch(s) -> {warm}")
        common.run_logged(cmd, warm / "train.log", env, echo=training.echo_train)
        _, checkpoints = training.collect_checkpoints(warm, 10 ** 12, False)
        info = {"command": cmd, "keep_rates_used": None, "final": checkpoints[-1]}
        (warm / "train.json").write_text(json.dumps(info, indent=1) + "\n")
    checkpoint = warm / "checkpoints" / Path(info["final"]["file"]).name

    report_dir, filtered = seed_dir / "report", seed_dir / "filtered"
    timing = seed_dir / "report.json"
    if not timing.is_file():
        shutil.rmtree(report_dir, ignore_errors=True)
        shutil.rmtree(filtered, ignore_errors=True)
        report_cmd = ["fairseq-autoassist-report", str(data), "--path", str(checkpoint),
                      "--out", str(report_dir), "--other-sources", str(args.other_sources),
                      "--write-filtered", str(filtered),
                      "--drop-noise-above", str(args.drop_noise_above),
                      *(["--cpu"] if args.cpu else [])]
        log(f"seed {seed}: the report -> {report_dir}")
        t0 = time.perf_counter()
        common.run_logged(report_cmd, seed_dir / "report.log", env)
        timing.write_text(json.dumps({"command": report_cmd,
                                      "wall_seconds": time.perf_counter() - t0}) + "\n")
    report_timing = json.loads(timing.read_text())
    report_wall = report_timing["wall_seconds"]
    pairs = read_pairs(report_dir / "pairs.csv")
    ids = pairs["id"].astype(np.int64)
    offline_drop = np.sort(ids[pairs["noise_score"] > args.drop_noise_above])
    heuristic_drop = np.sort(ids[pairs["heuristic_flags"] > 0])
    kept_text = json.loads((report_dir / "report.json").read_text())["filtered"]["kept"]
    if kept_text != len(ids) - len(offline_drop):
        raise CurveError(f"the report wrote {kept_text} pairs to {filtered}, the noise scores "
                         f"keep {len(ids) - len(offline_drop)}")
    subset_once(data, seed_dir / "data-offline", offline_drop)

    # the report's forward passes, in target tokens
    tgt_len = pairs["tgt_len"]
    passes = (1 + args.other_sources) * np.nansum(np.where(np.isfinite(pairs["boss_loss"]), tgt_len, 0)) \
        + np.nansum(np.where(np.isfinite(pairs["similar_source_loss"]), tgt_len, 0))
    valid_passes = (VALID_PASSES_BEYOND_OTHERS + args.other_sources) \
        * target_tokens(data, "valid", src, tgt)
    record = {"seed": seed, "warmup_epochs": args.warmup_epochs,
              "warmup_target_tokens": info["final"]["trained_target_tokens"],
              "warmup_wall_seconds": info["final"]["wall_seconds"],
              "report_wall_seconds": report_wall,
              "report_forward_target_tokens": int(passes + valid_passes),
              "drop_noise_above": args.drop_noise_above,
              "dropped": labels.drop_shares(offline_drop, data, len(ids))
              or {"dropped": len(offline_drop)},
              "checkpoint": str(checkpoint),
              "warmup": {"command": info["command"], "final": info["final"]},
              "report": report_timing}
    results = Path(args.out, f"seed{seed}")
    results.mkdir(parents=True, exist_ok=True)
    (results / "offline.json").write_text(json.dumps(record, indent=1) + "\n")
    log(f"seed {seed}: drops {len(offline_drop)} pairs (noise score > {args.drop_noise_above:g}); "
        f"warm-up {record['warmup_wall_seconds']:.1f} s, report {report_wall:.1f} s")
    return heuristic_drop, len(ids)


def main(argv=None):
    try:
        return filter_seeds(parse_args(argv))
    except CurveError as e:
        raise SystemExit(f"offline: error: {e}")


def filter_seeds(args):
    data = Path(args.data).resolve()
    manifest = json.loads((data / "manifest.json").read_text())
    src, tgt = manifest["src"], manifest["tgt"]
    env = common.child_env(args.threads)
    work = common.work_dir(args.work, args.out)
    heuristic = set()
    for seed in args.seed_list:
        drop, pairs = one_seed(args, work, data, src, tgt, seed, env)
        heuristic.add(tuple(drop.tolist()))
    if len(heuristic) != 1:
        raise CurveError("the heuristic flags differ between seeds: they should read the data only")
    drop = np.asarray(heuristic.pop(), dtype=np.int64)
    raw, out = Path(work, "heuristic"), Path(args.out, "heuristic")
    out.mkdir(parents=True, exist_ok=True)
    subset_once(data, raw / "data-heuristic", drop)
    (out / "heuristic.json").write_text(json.dumps(
        {"rule": "heuristic_flags > 0", "dropped": labels.drop_shares(drop, data, pairs)
         or {"dropped": len(drop)}}, indent=1) + "\n")
    log(f"heuristic filter: drops {len(drop)} pairs -> {raw / 'data-heuristic'}")
    return 0
