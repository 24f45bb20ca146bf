"""Mix human-labelled web-crawled pairs into a clean corpus and record each training pair's label.

The training text is the clean corpus's training pairs and the pairs of a labelled crawl file
(``LABEL<TAB>text<TAB>text``, one pair per line, plain or gzipped; by default the shared
ParaCrawl human evaluations, cs-en) interleaved in a random order drawn from --seed (each source
keeps its own order); valid and test are the clean corpus's, unchanged. Everything is then
prepared by prepare.py, by default with a permissive --len-ratio (1000) so that only pairs with an
empty side or a side over --max-len pieces are dropped and the crawl's noise reaches training as
it would for a user of raw crawl.

``DEST/labels.json`` gives, for every training pair id (fairseq's order, after cleaning, through
``DEST/train.lines``), "clean" or the pair's crawl label, where it came from, and the counts per
label kept and dropped; ``DEST/manifest.json`` gains a ``crawl_mixture`` entry.

Example: python -m data_prep.crawl_mixture --dest data-bin/m30k_cs_en_crawl --vocab-size 8000
"""

import argparse
import json
import logging
import os
import random
import shutil
import sys
from collections import Counter
from pathlib import Path

from data_prep import fetch
from data_prep.prepare import (
    PrepareError,
    add_common_args,
    common_kwargs,
    count_lines,
    find_inputs,
    normalize,
    open_bytes,
    prepare,
    read_lines,
    run_cli,
    sha256,
)

logger = logging.getLogger("data_prep")

CRAWL = "paracrawl-labelled-en-cs/pairs.tsv.gz"  # under the shared data directory
TSV_LANGS = ("cs", "en")  # its text columns
LABEL_NAMES = {
    "V": "valid",
    "A": "misaligned",
    "L": "wrong language",
    "MT": "machine-translated",
    "E": "translation error",
    "F": "free translation",
    "T": "bad tokenisation",
}
CLEAN = "clean"  # the label of the clean corpus's pairs
DEFAULT_LEN_RATIO = 1000.0


def default_crawl():
    """The shared copy of the labelled ParaCrawl pairs, or None."""
    path = fetch.shared_data_dir() / CRAWL
    return path if path.is_file() else None


def read_crawl(path, tsv_langs, src, tgt, labels=None, limit=0):
    """The pairs of the labelled TSV ``path``: a list of (0-based line, label, src text, tgt text),
    texts normalised, only the labels in ``labels`` (None = all), the first ``limit`` of those
    (0 = all). A line without exactly 1 + len(tsv_langs) tab-separated fields, an empty label,
    the label "clean" or bytes that are not UTF-8 are errors naming the line."""
    fields = 1 + len(tsv_langs)
    col_src, col_tgt = 1 + tsv_langs.index(src), 1 + tsv_langs.index(tgt)
    pairs, seen = [], Counter()
    try:
        with open_bytes(path) as f:
            for number, raw in enumerate(f):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise PrepareError(f"{path}: line {number + 1} is not valid UTF-8 ({e.reason})") from None
                parts = text.rstrip("\r\n").split("\t")
                if len(parts) != fields:
                    raise PrepareError(
                        f"{path}: line {number + 1} has {len(parts)} tab-separated fields, expected {fields} "
                        f"(LABEL, then the {' and '.join(tsv_langs)} text: --tsv-langs)"
                    )
                label = parts[0].strip()
                if not label:
                    raise PrepareError(f"{path}: line {number + 1} has an empty label")
                if label == CLEAN:
                    raise PrepareError(f"{path}: line {number + 1} has the label {CLEAN!r}, which is reserved")
                seen[label] += 1
                if labels is not None and label not in labels:
                    continue
                if limit and len(pairs) >= limit:
                    continue  # keep reading: a bad line or label later on is still an error
                pairs.append((number, label, normalize(parts[col_src]), normalize(parts[col_tgt])))
    except (OSError, EOFError) as e:
        raise PrepareError(f"cannot read {path}: {e}") from None
    if labels is not None and (unknown := sorted(set(labels) - set(seen))):
        raise PrepareError(
            f"--labels {' '.join(unknown)}: not in {path} (its labels: {' '.join(sorted(seen))})"
        )
    if not pairs:
        raise PrepareError(f"{path} has no pairs with the chosen labels")
    return pairs


def write_mixture(clean_files, clean_limit, crawl, seed, raw_dir, src, tgt):
    """Write ``raw_dir/train.{src,tgt}``: the clean pairs (the first ``clean_limit``, 0 = all) and
    the ``crawl`` pairs interleaved in a seeded random order. Returns, per raw line, its origin
    (CLEAN or the crawl label) and its 0-based line in the clean train files or the TSV."""
    n = {lang: count_lines(clean_files[lang]) for lang in (src, tgt)}
    if n[src] != n[tgt]:
        raise PrepareError(
            f"clean train line counts differ: {clean_files[src]} has {n[src]} lines, "
            f"{clean_files[tgt]} has {n[tgt]} lines"
        )
    n_clean = min(n[src], clean_limit) if clean_limit else n[src]
    if n_clean == 0:
        raise PrepareError(f"the clean training files {clean_files[src]} and {clean_files[tgt]} are empty")
    is_crawl = [False] * n_clean + [True] * len(crawl)
    random.Random(seed).shuffle(is_crawl)
    clean = zip(read_lines(clean_files[src], n_clean), read_lines(clean_files[tgt], n_clean), strict=True)
    pending = iter(crawl)
    labels, lines = [], []
    clean_line = 0
    with (
        open(raw_dir / f"train.{src}", "w", encoding="utf-8", newline="\n") as fs,
        open(raw_dir / f"train.{tgt}", "w", encoding="utf-8", newline="\n") as ft,
    ):
        for take_crawl in is_crawl:
            if take_crawl:
                line, label, s, t = next(pending)
            else:
                (s, t), line, label = next(clean), clean_line, CLEAN
                clean_line += 1
            fs.write(s + "\n")
            ft.write(t + "\n")
            labels.append(label)
            lines.append(line)
    return labels, lines


def _copy_split(clean_dir, prefix, name, langs, raw_dir):
    """Copy the clean ``prefix.LANG[.gz]`` files to ``raw_dir/name.LANG[.gz]``, bytes unchanged."""
    files = find_inputs(clean_dir, {name: prefix}, langs)[name]
    for lang, path in files.items():
        shutil.copyfile(path, raw_dir / f"{name}.{lang}{'.gz' if path.suffix == '.gz' else ''}")
    return files


def _write_if_changed(path, text):
    """Write ``text`` to ``path`` atomically, unless it holds that text already."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _json_lines(data):
    """JSON with one top-level key per line (long lists stay on theirs)."""
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in data.items())
    return "{\n" + body + "\n}\n"


def crawl_mixture(
    dest,
    clean_dir=None,
    crawl=None,
    src="cs",
    tgt="en",
    tsv_langs=TSV_LANGS,
    labels=None,
    crawl_limit=0,
    clean_limit=0,
    clean_train="train",
    clean_valid="val",
    clean_test="test_2016_flickr",
    work_dir=None,
    seed=1,
    len_ratio=DEFAULT_LEN_RATIO,
    **prepare_kwargs,
):
    """Mix, prepare into ``dest`` and write ``dest/labels.json``; returns the manifest.

    ``clean_dir`` defaults to the shared Multi30k copy, ``crawl`` to the shared labelled ParaCrawl
    pairs, ``work_dir`` (the mixed raw text) to DEST-work. Other keyword arguments go to prepare().
    """
    tsv_langs = list(tsv_langs)
    if len(tsv_langs) < 2 or len(set(tsv_langs)) != len(tsv_langs):
        raise PrepareError(f"--tsv-langs must name two or more different languages, got {' '.join(tsv_langs)}")
    for flag, lang in (("--src", src), ("--tgt", tgt)):
        if lang not in tsv_langs:
            raise PrepareError(
                f"{flag} {lang} is not a language of the crawl file's columns (--tsv-langs {' '.join(tsv_langs)})"
            )
    if src == tgt:
        raise PrepareError(f"source and target languages must be two different codes, got {src!r} and {tgt!r}")
    if crawl_limit < 0 or clean_limit < 0:
        raise PrepareError("--crawl-limit and --clean-limit must be >= 0")
    clean_dir = clean_dir or fetch.default_raw_dir("multi30k")
    if clean_dir is None:
        raise PrepareError(f"no --clean-dir given and no shared Multi30k copy in {fetch.shared_data_dir()}")
    crawl = crawl or default_crawl()
    if crawl is None:
        raise PrepareError(f"no --crawl given and no shared copy at {fetch.shared_data_dir() / CRAWL}")
    clean_dir, crawl, dest = Path(clean_dir).absolute(), Path(crawl).absolute(), Path(dest).absolute()
    if not crawl.is_file():
        raise PrepareError(f"crawl file {crawl} does not exist")
    work_dir = Path(work_dir).absolute() if work_dir else Path(str(dest) + "-work")
    langs = (src, tgt)

    clean_train_files = find_inputs(clean_dir, {"train": clean_train}, langs)["train"]
    pairs = read_crawl(crawl, tsv_langs, src, tgt, labels=labels, limit=crawl_limit)
    raw_dir = work_dir / "mixture"
    shutil.rmtree(raw_dir, ignore_errors=True)
    raw_dir.mkdir(parents=True)
    clean_inputs = {
        "train": clean_train_files,
        "valid": _copy_split(clean_dir, clean_valid, "valid", langs, raw_dir),
        "test": _copy_split(clean_dir, clean_test, "test", langs, raw_dir),
    }
    logger.info("mixing %d crawl pairs from %s into the clean pairs of %s", len(pairs), crawl, clean_dir)
    raw_labels, raw_lines = write_mixture(clean_train_files, clean_limit, pairs, seed, raw_dir, src, tgt)

    manifest = prepare(raw_dir, src, tgt, dest, train="train", valid="valid", test="test",
                       seed=seed, len_ratio=len_ratio, **prepare_kwargs)  # fmt: skip

    kept_lines = [int(x) for x in (dest / "train.lines").read_text(encoding="utf-8").split()]
    limit_train = prepare_kwargs.get("limit_train", 0)
    mixed = Counter(raw_labels[: limit_train or None])
    pair_labels = [raw_labels[i] for i in kept_lines]
    counts = Counter(pair_labels)
    order = [CLEAN] + sorted(set(mixed) - {CLEAN}, key=lambda x: (-mixed[x], x))
    counts = {label: counts[label] for label in order}
    mixed = {label: mixed[label] for label in order}
    dropped = {label: mixed[label] - counts[label] for label in order}
    labels_json = {
        "labels": pair_labels,
        "source": {
            "origin": [CLEAN if label == CLEAN else "crawl" for label in pair_labels],
            "line": [raw_lines[i] for i in kept_lines],
        },
        "counts": counts,
        "mixed": mixed,
        "dropped": dropped,
        "label_names": {label: LABEL_NAMES.get(label, label) for label in order if label != CLEAN},
        "crawl": str(crawl),
        "clean": {lang: str(path) for lang, path in clean_train_files.items()},
        "seed": seed,
    }
    _write_if_changed(dest / "labels.json", _json_lines(labels_json))

    manifest["crawl_mixture"] = {
        "files": ["labels.json", "train.lines"],
        "crawl": {"path": str(crawl), "sha256": sha256(crawl), "tsv_langs": tsv_langs},
        "clean": {
            split: {lang: str(path) for lang, path in files.items()} for split, files in clean_inputs.items()
        },
        "labels": sorted(labels) if labels is not None else None,
        "crawl_limit": crawl_limit,
        "clean_limit": clean_limit,
        "seed": seed,
        "counts": counts,
        "mixed": mixed,
        "dropped": dropped,
    }
    manifest["files"] = sorted(set(manifest["files"]) | {"labels.json"})
    _write_if_changed(dest / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    logger.info(
        "training pairs per label (kept/mixed): %s",
        ", ".join(f"{label} {counts[label]}/{mixed[label]}" for label in order),
    )
    return manifest


def _set_help(parser, dest, **changes):
    """Change an option's default or help text (add_common_args' options are shared)."""
    for action in parser._actions:
        if action.dest == dest:
            for name, value in changes.items():
                setattr(action, name, value)


def get_parser():
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.crawl_mixture",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dest", required=True, metavar="DIR", help="output directory (fairseq data-bin)")
    parser.add_argument("--clean-dir", metavar="DIR",
                        help="the clean corpus, PREFIX.LANG[.gz] files (default: the shared Multi30k copy)")
    parser.add_argument("--clean-train", default="train", metavar="PREFIX",
                        help="clean training file prefix (default: %(default)s)")
    parser.add_argument("--valid", default="val", metavar="PREFIX",
                        help="clean validation file prefix, used unchanged (default: %(default)s)")
    parser.add_argument("--test", default="test_2016_flickr", metavar="PREFIX",
                        help="clean test file prefix, used unchanged (default: %(default)s)")
    parser.add_argument("--src", "-s", default="cs", help="source language (default: %(default)s)")
    parser.add_argument("--tgt", "-t", default="en", help="target language (default: %(default)s)")
    parser.add_argument("--crawl", metavar="FILE",
                        help="labelled crawl pairs, LABEL<TAB>text<TAB>text per line, plain or .gz "
                             f"(default: the shared copy, {CRAWL})")
    parser.add_argument("--tsv-langs", nargs="+", default=list(TSV_LANGS), metavar="LANG",
                        help="the languages of the crawl file's text columns, in order; the columns of "
                             "--src and --tgt are used (default: " + " ".join(TSV_LANGS) + ")")
    parser.add_argument("--labels", nargs="+", metavar="LABEL",
                        help="crawl labels to mix in (default: all; shared file: "
                             + ", ".join(f"{k} {v}" for k, v in LABEL_NAMES.items()) + ")")
    parser.add_argument("--crawl-limit", type=int, default=0, metavar="N",
                        help="mix in only the first N crawl pairs with a chosen label (0 = all)")
    parser.add_argument("--clean-limit", type=int, default=0, metavar="N",
                        help="use only the first N clean training pairs (0 = all)")
    parser.add_argument("--work-dir", metavar="DIR", help="where the mixed raw text goes (default: DEST-work)")
    add_common_args(parser, vocab_size=8000)
    _set_help(parser, "len_ratio", default=DEFAULT_LEN_RATIO,
              help="drop training pairs whose longer side has more than R times the pieces of the shorter "
                   "side (default here: %(default)s, i.e. in effect only empty and over-long pairs are "
                   "dropped, so the crawl's noise reaches training as it would from raw crawl)")
    _set_help(parser, "seed",
              help="seed for the order in which clean and crawl pairs are interleaved, and for the "
                   "sentencepiece sample (default: %(default)s)")
    _set_help(parser, "limit_train",
              help="use only the first N pairs of the mixed training text, before cleaning (0 = all; "
                   "--clean-limit and --crawl-limit are usually what you want)")  # fmt: skip
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    kwargs = common_kwargs(args)
    seed, len_ratio = kwargs.pop("seed"), kwargs.pop("len_ratio")
    return run_cli(
        lambda: crawl_mixture(
            args.dest, clean_dir=args.clean_dir, crawl=args.crawl, src=args.src, tgt=args.tgt,
            tsv_langs=args.tsv_langs, labels=args.labels, crawl_limit=args.crawl_limit,
            clean_limit=args.clean_limit, clean_train=args.clean_train, clean_valid=args.valid,
            clean_test=args.test, work_dir=args.work_dir, seed=seed, len_ratio=len_ratio, **kwargs,
        )  # fmt: skip
    )


if __name__ == "__main__":
    sys.exit(main())
