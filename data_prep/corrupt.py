#!/usr/bin/env python3
"""A noisy copy of a prepared corpus: a fraction of the training pairs made misaligned.

The targets of a seeded random ``--fraction`` of the training pairs are shuffled among
themselves (a derangement: no chosen pair keeps its own target), as misaligned web-crawled pairs
are. Dictionaries, valid and test splits and the sentencepiece model are copied unchanged, so
models are evaluated on clean data. ``DEST/corrupted.json`` records the ids (0-based training pair
indices, as fairseq numbers them) of the corrupted pairs; ``DEST/manifest.json`` is the source's
manifest with a ``corrupted`` entry (source, fraction, seed, count).

Example::

    python -m data_prep.corrupt --src-dir data-bin/m30k_10k --dest data-bin/m30k_10k_noisy20 \\
        --fraction 0.2 --seed 1
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np


class CorruptError(Exception):
    """Bad input; the command line prints it and exits with status 1."""


def _train_prefix(src_dir, src, tgt):
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        if (src_dir / f"train.{pair}.{tgt}.idx").is_file():
            return f"train.{pair}"
    raise CorruptError(f"{src_dir} has no train.{src}-{tgt}.{tgt}.idx: prepare it with data_prep")


def corrupted_ids(n_pairs, fraction, seed):
    """The sorted ids of the pairs to corrupt, and a derangement of them (whose target each
    takes)."""
    if not 0.0 < fraction <= 1.0:
        raise CorruptError(f"--fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    count = int(round(fraction * n_pairs))
    if count < 2:
        raise CorruptError(f"--fraction {fraction} of {n_pairs} pairs corrupts fewer than 2 pairs")
    ids = np.sort(rng.choice(n_pairs, size=count, replace=False))
    # a cyclic shift of a random order never maps a pair to itself
    order = rng.permutation(count)
    donors = np.empty(count, dtype=np.int64)
    donors[order] = ids[np.roll(order, 1)]
    return ids, donors


def corrupt(src_dir, dest, fraction=0.2, seed=1, src=None, tgt=None):
    """Write the noisy copy of *src_dir* to *dest*; returns the manifest's ``corrupted`` entry."""
    from fairseq.data import Dictionary, indexed_dataset

    src_dir, dest = Path(src_dir), Path(dest)
    manifest_path = src_dir / "manifest.json"
    if not manifest_path.is_file():
        raise CorruptError(f"{src_dir} has no manifest.json: is it a data_prep output?")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    src, tgt = src or manifest.get("src"), tgt or manifest.get("tgt")
    if not src or not tgt:
        raise CorruptError(f"{manifest_path} names no languages: pass --src and --tgt")
    if dest.exists():
        raise CorruptError(f"{dest} exists; remove it or choose another --dest")
    prefix = _train_prefix(src_dir, src, tgt)
    targets = indexed_dataset.MMapIndexedDataset(str(src_dir / f"{prefix}.{tgt}"))
    ids, donors = corrupted_ids(len(targets), fraction, seed)

    partial = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(src_dir, partial, ignore=shutil.ignore_patterns(f"{prefix}.{tgt}.*"))
    take = np.arange(len(targets))
    take[ids] = donors
    vocab = Dictionary.load(str(src_dir / f"dict.{tgt}.txt"))
    builder = indexed_dataset.MMapIndexedDatasetBuilder(
        str(partial / f"{prefix}.{tgt}.bin"),
        dtype=indexed_dataset.best_fitting_int_dtype(len(vocab)))
    for i in take:
        builder.add_item(targets[int(i)])
    builder.finalize(str(partial / f"{prefix}.{tgt}.idx"))
    entry = {"source": str(src_dir), "fraction": fraction, "seed": seed, "count": len(ids),
             "train_pairs": len(targets), "ids_file": "corrupted.json"}
    (partial / "corrupted.json").write_text(json.dumps(
        {"ids": ids.tolist(), "target_from": donors.tolist()}) + "\n", encoding="utf-8")
    manifest["corrupted"] = entry
    manifest["dest"] = str(dest)
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
    partial.rename(dest)
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.corrupt",
        description="Copy a prepared corpus with a fraction of its training pairs misaligned "
                    "(targets shuffled among themselves), recording which.")
    parser.add_argument("--src-dir", required=True, metavar="DIR",
                        help="a data_prep output (fairseq binaries + manifest.json)")
    parser.add_argument("--dest", required=True, metavar="DIR", help="the noisy copy (must not exist)")
    parser.add_argument("--fraction", type=float, default=0.2,
                        help="fraction of the training pairs to misalign (default: 0.2)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument("--src", help="source language (default: from manifest.json)")
    parser.add_argument("--tgt", help="target language (default: from manifest.json)")
    args = parser.parse_args(argv)
    try:
        entry = corrupt(args.src_dir, args.dest, args.fraction, args.seed, args.src, args.tgt)
    except CorruptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.dest}: {entry['count']} of {entry['train_pairs']} training pairs misaligned "
          f"(ids in {args.dest}/corrupted.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
