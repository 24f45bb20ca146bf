"""Prepare the Tatoeba de-en sentence pairs of the shared data for fairseq, with a seeded split.

Tatoeba has no official split, and one sentence often has several translations (169,813 pairs,
135,534 distinct English and 159,223 distinct German sides). A split by pairs would put a test
sentence's other translations in training. This recipe splits by *connected groups* instead: two
pairs are in one group when they share a source or a target sentence (after the whitespace and
control-character normalisation of data_prep.prepare), directly or through other pairs. Groups
are drawn in a random order from --split-seed: the first ones fill valid up to --valid-pairs pairs,
the next ones test up to --test-pairs, the rest is training. So no valid or test sentence, source
or target, occurs in training, and valid and test share none either. Training pairs are written
in a random order of the same seed (the release is sorted by length), so --limit-train N keeps a
random N pairs.

--raw-dir holds ``en-de.tsv[.gz]`` (``en<TAB>de`` per line, as in the shared copy
tatoeba-de-en/); the split text goes to --work-dir (default DEST-work) and DEST/manifest.json
gains a ``tatoeba_split`` entry (seed, pairs and groups per split, the input's checksum).

Example: python -m data_prep.tatoeba --dest data-bin/tatoeba_de_en
"""

import gzip
import json
import logging
import sys
from pathlib import Path

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from data_prep import fetch
from data_prep.prepare import PrepareError, common_kwargs, normalize, prepare, run_cli, sha256, write_lines

logger = logging.getLogger("data_prep")

TSV = "en-de.tsv"
TSV_LANGS = ("en", "de")
SPLITS = ("train", "valid", "test")


def find_tsv(raw_dir):
    """``raw_dir/en-de.tsv.gz`` or ``raw_dir/en-de.tsv``."""
    for name in (TSV + ".gz", TSV):
        if (Path(raw_dir) / name).is_file():
            return Path(raw_dir) / name
    raise PrepareError(f"{raw_dir} holds no {TSV}.gz or {TSV}")


def read_tsv(path):
    """The normalised English and German sides of every pair of a Tatoeba TSV file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    sides = {lang: [] for lang in TSV_LANGS}
    with opener(path, "rt", encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, 1):
            columns = line.rstrip("\n").split("\t")
            if len(columns) < 2:
                raise PrepareError(f"{path}:{number}: expected en<TAB>de, got {line[:80]!r}")
            for lang, text in zip(TSV_LANGS, columns):
                sides[lang].append(normalize(text))
    if not sides["en"]:
        raise PrepareError(f"{path} holds no pairs")
    return sides


def sentence_groups(left, right):
    """Each pair's group: pairs that share a left or a right sentence, directly or through other
    pairs, are in one group (connected components of the bipartite graph of sentences)."""
    _, left_ids = np.unique(np.asarray(left, dtype=object), return_inverse=True)
    _, right_ids = np.unique(np.asarray(right, dtype=object), return_inverse=True)
    n_left = int(left_ids.max()) + 1
    n_nodes = n_left + int(right_ids.max()) + 1
    edges = scipy.sparse.coo_matrix((np.ones(len(left_ids)), (left_ids, n_left + right_ids)),
                                    shape=(n_nodes, n_nodes))
    _, node_group = connected_components(edges, directed=False)
    _, pair_group = np.unique(node_group[left_ids], return_inverse=True)  # numbered 0..groups-1
    return pair_group


def split_groups(pair_group, valid_pairs, test_pairs, seed):
    """Each pair's split (0 train, 1 valid, 2 test): the groups in a random order of *seed*, the
    first ones up to *valid_pairs* pairs to valid, the next ones up to *test_pairs* to test."""
    sizes = np.bincount(pair_group)
    order = np.random.default_rng(seed).permutation(len(sizes))
    filled = np.cumsum(sizes[order])
    valid = filled <= valid_pairs
    valid_filled = filled[valid][-1] if valid.any() else 0
    test = ~valid & (filled <= valid_filled + test_pairs)
    group_split = np.zeros(len(sizes), dtype=np.int64)
    group_split[order[valid]] = 1
    group_split[order[test]] = 2
    return group_split[pair_group]


def write_split(sides, pair_split, src, tgt, raw_dir, seed):
    """Write ``raw_dir/{train,valid,test}.{src,tgt}``: valid and test in the release's order,
    train in a random order of *seed*."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    train_order = np.random.default_rng(seed + 1).permutation(np.flatnonzero(pair_split == 0))
    rows = {"train": train_order, "valid": np.flatnonzero(pair_split == 1),
            "test": np.flatnonzero(pair_split == 2)}
    for split, index in rows.items():
        for lang in (src, tgt):
            side = sides[lang]
            write_lines(raw_dir / f"{split}.{lang}", (side[i] for i in index))
    return {split: int(len(index)) for split, index in rows.items()}


def tatoeba(dest, raw_dir=None, src="de", tgt="en", valid_pairs=2000, test_pairs=2000, split_seed=1,
            work_dir=None, **prepare_kwargs):
    """Split, prepare into *dest* and record the split in the manifest; returns the manifest."""
    if {src, tgt} != set(TSV_LANGS):
        raise PrepareError(f"Tatoeba's file is en-de: --src/--tgt must be de and en, got {src}, {tgt}")
    if valid_pairs < 1 or test_pairs < 1:
        raise PrepareError("--valid-pairs and --test-pairs must be >= 1")
    raw_dir = raw_dir or fetch.default_raw_dir("tatoeba-de-en")
    if raw_dir is None:
        raise PrepareError(f"no local copy of tatoeba-de-en in {fetch.shared_data_dir()}: "
                           "pass --raw-dir or set AUTOASSIST_SHARED_DATA")
    tsv = find_tsv(raw_dir)
    dest = Path(dest).absolute()
    work_dir = Path(work_dir).absolute() if work_dir else Path(str(dest) + "-work")
    sides = read_tsv(tsv)
    pair_group = sentence_groups(sides[src], sides[tgt])
    if valid_pairs + test_pairs >= len(pair_group):
        raise PrepareError(f"--valid-pairs + --test-pairs ({valid_pairs + test_pairs}) leave no "
                           f"training pairs of {len(pair_group)}")
    pair_split = split_groups(pair_group, valid_pairs, test_pairs, split_seed)
    split_dir = work_dir / "split"
    pairs = write_split(sides, pair_split, src, tgt, split_dir, split_seed)
    groups = {name: int(len(np.unique(pair_group[pair_split == i]))) for i, name in enumerate(SPLITS)}
    logger.info("split %d pairs in %d groups of shared sentences: %s", len(pair_group),
                pair_group.max() + 1, ", ".join(f"{s} {pairs[s]} pairs ({groups[s]} groups)" for s in SPLITS))

    manifest = prepare(split_dir, src, tgt, dest, train="train", valid="valid", test="test",
                       **prepare_kwargs)
    manifest["tatoeba_split"] = {
        "tsv": {"path": str(tsv), "sha256": sha256(tsv)},
        "split_seed": split_seed,
        "valid_pairs": valid_pairs,
        "test_pairs": test_pairs,
        "pairs": pairs,
        "groups": groups,
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return manifest


def main(argv=None):
    parser = fetch.recipe_parser(
        "tatoeba", __doc__, src="de", tgt="en", languages=list(TSV_LANGS), vocab_size=8000,
        downloads=False, raw_help=f"directory with {TSV}[.gz] (default: the shared-data copy tatoeba-de-en/)",
    )  # fmt: skip
    parser.add_argument("--valid-pairs", type=int, default=2000, metavar="N",
                        help="pairs held out for valid, whole groups (default: %(default)s)")
    parser.add_argument("--test-pairs", type=int, default=2000, metavar="N",
                        help="pairs held out for test, whole groups (default: %(default)s)")
    parser.add_argument("--split-seed", type=int, default=1,
                        help="seed of the groups' order and of the training pairs' order (default: %(default)s)")
    parser.add_argument("--work-dir", metavar="DIR", help="where the split text goes (default: DEST-work)")
    args = parser.parse_args(argv)
    return run_cli(lambda: tatoeba(
        args.dest, raw_dir=args.raw_dir, src=args.src, tgt=args.tgt, valid_pairs=args.valid_pairs,
        test_pairs=args.test_pairs, split_seed=args.split_seed, work_dir=args.work_dir,
        **common_kwargs(args)))


if __name__ == "__main__":
    sys.exit(main())
