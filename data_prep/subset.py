"""A copy of a data_prep output (fairseq binaries + manifest.json) without some training pairs:
the same dictionaries, valid and test splits, the training split minus the pairs of ``--drop-ids``
(one pair id per line) or, with ``--drop-corrupted``, minus every pair ``data_prep.corrupt``
corrupted (its corrupted.json: the oracle filter of the noise benchmark). ``DEST/subset.json``
records the dropped ids and ``kept``, the old id of each kept pair in its new order
(``train.lines`` follows; labels of the source, corrupted.json or labels.json, are not copied).

    python -m data_prep.subset --src-dir data-bin/m30k_10k_mixed --dest data-bin/m30k_10k_mixed_oracle \\
        --drop-corrupted
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from .corrupt import _Side, _tensor, _train_prefix


class SubsetError(Exception):
    pass


def subset(src_dir, dest, drop):
    """Write *src_dir* without the training pairs *drop* (ids) to *dest*; returns (kept, dropped)."""
    from fairseq.data import indexed_dataset

    src_dir, dest = Path(src_dir), Path(dest)
    manifest = json.loads((src_dir / "manifest.json").read_text(encoding="utf-8"))
    src, tgt = manifest["src"], manifest["tgt"]
    prefix = _train_prefix(src_dir, src, tgt)
    sides = {lang: _Side(str(src_dir / f"{prefix}.{lang}")) for lang in (src, tgt)}
    n = len(sides[src])
    drop = np.unique(np.asarray(drop, dtype=np.int64))
    if len(drop) and (drop[0] < 0 or drop[-1] >= n):
        raise SubsetError(f"pair ids must be in [0, {n}), got {drop[0]}..{drop[-1]}")
    kept = np.setdiff1d(np.arange(n), drop)
    if dest.exists():
        raise SubsetError(f"{dest} exists")
    partial = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        shutil.copytree(src_dir, partial, ignore=shutil.ignore_patterns(
            *(f"{prefix}.{lang}.*" for lang in (src, tgt)), "train.lines", "corrupted.json",
            "labels.json"))
        for lang, side in sides.items():
            builder = indexed_dataset.MMapIndexedDatasetBuilder(
                str(partial / f"{prefix}.{lang}.bin"), dtype=side.dtype)
            for i in kept:
                builder.add_item(_tensor(side[int(i)]))
            builder.finalize(str(partial / f"{prefix}.{lang}.idx"))
        lines = src_dir / "train.lines"  # each pair's raw input line, for those kept
        if lines.is_file():
            raw = np.array(lines.read_text(encoding="utf-8").split(), dtype=np.int64)
            (partial / "train.lines").write_text("".join(f"{x}\n" for x in raw[kept]))
        (partial / "subset.json").write_text(json.dumps(
            {"source": str(src_dir), "dropped": drop.tolist(), "kept": kept.tolist()}) + "\n")
        manifest.pop("corrupted", None)  # the corrupted pairs' ids are not this corpus's
        manifest["subset"] = {"source": str(src_dir), "dropped": int(len(drop)),
                              "kept": int(len(kept))}
        manifest["dest"] = str(dest)
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return len(kept), len(drop)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src-dir", required=True, help="a data_prep output")
    p.add_argument("--dest", required=True, help="the new data directory (must not exist)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--drop-ids", metavar="FILE", help="pair ids to drop, one per line")
    which.add_argument("--drop-corrupted", action="store_true",
                       help="drop every pair of SRC-DIR/corrupted.json (data_prep.corrupt)")
    args = p.parse_args(argv)
    try:
        if args.drop_corrupted:
            path = Path(args.src_dir) / "corrupted.json"
            drop = json.loads(path.read_text(encoding="utf-8"))["all_ids"]
        else:
            drop = [int(line) for line in Path(args.drop_ids).read_text().split()]
        kept, dropped = subset(args.src_dir, args.dest, drop)
    except (OSError, ValueError, KeyError, SubsetError) as e:
        print(f"data_prep.subset: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.dest}: {kept} training pairs kept, {dropped} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
