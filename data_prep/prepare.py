#!/usr/bin/env python3
"""Turn raw parallel text into the binaries that ``fairseq-train`` reads.

Steps: normalise the text, clean the training pairs (empty sides, length limit,
length ratio; valid/test lines are never dropped), train a sentencepiece model
on the training text, encode every split, binarise with fairseq's
preprocessing (joined dictionary by default) and keep the normalised raw
valid/test text beside the binaries as references for sacrebleu. With
``--vocab-from DIR`` (data prepared before, e.g. a parent model's) the
sentencepiece model(s) and fairseq dictionaries of DIR are used instead of new
ones, so a model trained on DIR's data can be fine-tuned on this data.
``DEST/train.lines`` maps each kept training pair to its raw input line: line k
holds the 0-based line number, in the raw training files, of training pair id k
(fairseq's order), so that per-pair metadata can be joined after cleaning.

Inputs are ``RAW_DIR/PREFIX.LANG`` or ``RAW_DIR/PREFIX.LANG.gz``. Everything is
built in a temporary directory next to DEST and moved into place at the end,
so DEST is either absent, the previous complete result or the new complete
result. ``DEST/manifest.json`` records the inputs' checksums and the options;
a second run with the same inputs and options does nothing.

Example::

    python -m data_prep.prepare --raw-dir ../shared/data/multi30k --src de --tgt en \\
        --train train --valid val --test test_2016_flickr --dest data-bin/multi30k
"""

import argparse
import gzip
import hashlib
import itertools
import json
import logging
import os
import random
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
from collections import deque
from pathlib import Path

logger = logging.getLogger("data_prep")

# Bump when prepare() would write something different for the same inputs and options.
# 2: DEST/train.lines (raw line number of every kept training pair).
FORMAT_VERSION = 2
BATCH_LINES = 10000


class PrepareError(Exception):
    """Bad input or a failed step; the command line prints it and exits with status 1."""


# ----------------------------------------------------------------------------
# reading and normalising text
# ----------------------------------------------------------------------------

# Python's \s covers tabs, CR, form feed, NBSP, U+2028 etc.; the control class
# below leaves those out so that they become spaces rather than disappear.
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ufeff]")


def normalize(line):
    """NFC-normalise, drop control characters and BOMs, turn every whitespace
    run (tabs, CR, NBSP, U+2028, ...) into one space and strip the ends."""
    line = _CONTROL.sub("", unicodedata.normalize("NFC", line))
    return _SPACES.sub(" ", line).strip()


def open_bytes(path):
    """Open a plain or gzipped file for binary reading."""
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_lines(path, limit=0):
    """Yield the normalised lines of ``path`` (only the first ``limit`` if > 0).

    Lines are split on LF only; a line that is not valid UTF-8 is an error
    that names the file and the line number.
    """
    try:
        with open_bytes(path) as f:
            for number, raw in enumerate(f, 1):
                if limit and number > limit:
                    return
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise PrepareError(
                        f"{path}: line {number} is not valid UTF-8 "
                        f"(byte {e.start}: {e.reason}: {raw[e.start:e.start + 4]!r})"
                    ) from None
                yield normalize(text)
    except (OSError, EOFError) as e:  # unreadable file, gzip.BadGzipFile, truncated gzip
        raise PrepareError(f"cannot read {path}: {e}") from None


def count_lines(path):
    """Number of lines in a plain or gzipped file (a last line without LF counts)."""
    count, last = 0, b"\n"
    try:
        with open_bytes(path) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                count += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError) as e:
        raise PrepareError(f"cannot read {path}: {e}") from None
    return count + (last != b"\n")


def sha256(path):
    """Hex SHA-256 of a file's bytes as stored on disk."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_inputs(raw_dir, prefixes, langs):
    """Map split -> lang -> path of ``RAW_DIR/PREFIX.LANG[.gz]``; one error lists every missing file."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise PrepareError(f"raw directory {raw_dir} does not exist")
    found, missing = {}, []
    for split, prefix in prefixes.items():
        if not prefix:
            missing.append(f"{split} split (no prefix given)")
            continue
        for lang in langs:
            plain = raw_dir / f"{prefix}.{lang}"
            zipped = raw_dir / f"{prefix}.{lang}.gz"
            path = plain if plain.is_file() else zipped if zipped.is_file() else None
            if path is None:
                missing.append(f"{split} file {plain} (or {zipped.name})")
            found.setdefault(split, {})[lang] = path
    if missing:
        raise PrepareError("missing input: " + "; ".join(missing))
    return found


def _batches(iterable, size=BATCH_LINES):
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _progress(total, desc):
    """A tqdm bar on a terminal, nothing otherwise (steps are also logged)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" lines", disable=None, leave=False)


def _open_out(path):
    return open(path, "w", encoding="utf-8", newline="\n")


def _open_in(path):
    return open(path, encoding="utf-8", newline="\n")


def write_lines(path, lines, mode="w"):
    """Write ``lines`` (without newlines) to ``path`` (mode "a" appends); returns how many."""
    count = 0
    with open(path, mode, encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
            count += 1
    return count


# ----------------------------------------------------------------------------
# the steps
# ----------------------------------------------------------------------------


def _clean_train(files, src, tgt, total, limit, work):
    """Normalise the training pairs, drop pairs with an empty side, write
    ``work/train.clean.LANG`` and ``work/train.clean.line`` (the 0-based raw line
    number of each kept pair); returns (pairs read, pairs with an empty side)."""
    read = empty = 0
    n = min(limit, total) if limit else total
    with (
        _open_out(work / f"train.clean.{src}") as fs,
        _open_out(work / f"train.clean.{tgt}") as ft,
        _open_out(work / "train.clean.line") as fl,
        _progress(n, "clean train") as bar,
    ):
        pairs = zip(read_lines(files[src], limit), read_lines(files[tgt], limit), strict=True)
        for number, (s, t) in enumerate(pairs):
            read += 1
            bar.update()
            if not s or not t:
                empty += 1
                continue
            fs.write(s + "\n")
            ft.write(t + "\n")
            fl.write(f"{number}\n")
    return read, empty


def _spm_training_text(work, langs, kept, max_sentences, seed):
    """Write the sentencepiece training text for ``langs`` (one model) and return its path.

    When there are more sentences than ``max_sentences`` a fixed-seed sample of
    pairs is used, so the model does not depend on sentencepiece's own
    (unseeded) sampling.
    """
    per_lang = max(1, max_sentences // len(langs)) if max_sentences else kept
    chosen = None
    if kept > per_lang:
        chosen = set(random.Random(seed).sample(range(kept), per_lang))
        logger.info("sentencepiece: sampling %d of %d training pairs", per_lang, kept)
    out = work / f"spm_train.{'-'.join(langs)}.txt"
    with _open_out(out) as f:
        for lang in langs:
            with _open_in(work / f"train.clean.{lang}") as lines:
                for i, line in enumerate(lines):
                    if chosen is None or i in chosen:
                        f.write(line)
    return out


def _train_spm(text, prefix, vocab_size, model_type, character_coverage, workers):
    """Train one sentencepiece model; a vocabulary the data cannot fill is an error.

    ``hard_vocab_limit`` stays on on purpose: the model has exactly
    ``vocab_size`` pieces or preparation fails, rather than silently building a
    smaller vocabulary than asked for. With the sampled text fixed, the result
    depends only on the data, the options and ``num_threads`` (= --workers).
    """
    import sentencepiece as spm

    try:
        spm.SentencePieceTrainer.train(
            input=[str(text)],
            model_prefix=str(prefix),
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            hard_vocab_limit=True,
            input_sentence_size=0,
            shuffle_input_sentence=False,
            num_threads=workers,
            minloglevel=1,
        )
    except RuntimeError as e:
        m = re.search(r"Vocabulary size too high \(\d+\)\. Please set it to a value <= (\d+)", str(e))
        if m:
            raise PrepareError(
                f"--vocab-size {vocab_size} is larger than the training data supports: "
                f"sentencepiece can make at most {m.group(1)} pieces from it "
                f"({model_type}); lower --vocab-size or use more training data"
            ) from None
        raise PrepareError(f"sentencepiece training failed (--vocab-size {vocab_size}): {e}") from None
    return Path(f"{prefix}.model")


def _encode_train(sps, work, src, tgt, kept, max_len, len_ratio, workers, lines_out):
    """Encode the clean training pairs, drop the ones over ``max_len`` pieces or
    the length ratio, write ``work/train.LANG`` and, to ``lines_out``, the raw
    line number of each kept pair (from ``work/train.clean.line``); returns a
    dict of counts."""
    counts = {"too_long": 0, "ratio": 0, "empty_pieces": 0, "kept": 0}
    with (
        _open_in(work / f"train.clean.{src}") as fs,
        _open_in(work / f"train.clean.{tgt}") as ft,
        _open_in(work / "train.clean.line") as fl,
        _open_out(work / f"train.{src}") as out_s,
        _open_out(work / f"train.{tgt}") as out_t,
        _open_out(lines_out) as out_l,
        _progress(kept, "encode train") as bar,
    ):
        for batch in _batches(zip(fs, ft, fl, strict=True)):
            enc_s = sps[src].encode([s.rstrip("\n") for s, _, _ in batch], out_type=str, num_threads=workers)
            enc_t = sps[tgt].encode([t.rstrip("\n") for _, t, _ in batch], out_type=str, num_threads=workers)
            for ps, pt, (_, _, number) in zip(enc_s, enc_t, batch, strict=True):
                short, long = sorted((len(ps), len(pt)))
                if short == 0:
                    counts["empty_pieces"] += 1
                elif long > max_len:
                    counts["too_long"] += 1
                elif long > len_ratio * short:
                    counts["ratio"] += 1
                else:
                    counts["kept"] += 1
                    out_s.write(" ".join(ps) + "\n")
                    out_t.write(" ".join(pt) + "\n")
                    out_l.write(number)
            bar.update(len(batch))
    return counts


def _encode_file(sp, source, target, workers):
    """Encode every line of ``source`` into ``target`` (same line count, nothing dropped)."""
    with _open_in(source) as fin, _open_out(target) as fout:
        for batch in _batches(fin):
            for pieces in sp.encode([line.rstrip("\n") for line in batch], out_type=str, num_threads=workers):
                fout.write(" ".join(pieces) + "\n")


def _binarize(out, src, tgt, joined, workers, dictionaries=None):
    """Run fairseq's preprocessing on ``out/work/{train,valid,test}.LANG`` as a subprocess
    in ``out`` (relative paths: fairseq splits prefixes on commas), relaying its log lines;
    with ``dictionaries`` ({lang: dict path}) the given dictionaries, not new ones."""
    cmd = [
        sys.executable, "-m", "fairseq_cli.preprocess",
        "--source-lang", src, "--target-lang", tgt,
        "--trainpref", "work/train", "--validpref", "work/valid", "--testpref", "work/test",
        "--destdir", ".", "--workers", str(workers), "--dataset-impl", "mmap",
        "--thresholdsrc", "0", "--thresholdtgt", "0",
    ]  # fmt: skip
    if joined:
        cmd.append("--joined-dictionary")
    if dictionaries:
        cmd += ["--srcdict", str(dictionaries[src])] + ([] if joined else ["--tgtdict", str(dictionaries[tgt])])
    logger.info("binarising in %s: %s", out, shlex.join(cmd))
    tail = deque(maxlen=20)
    with subprocess.Popen(cmd, cwd=out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            tail.append(line.rstrip())
            logger.info("fairseq: %s", line.rstrip())
    if proc.returncode:
        raise PrepareError(
            f"fairseq preprocessing failed with exit status {proc.returncode}; last output:\n" + "\n".join(tail)
        )


def _load_manifest(dest):
    try:
        return json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _replace_dir(new, dest):
    """Move the finished build ``new`` to ``dest``, replacing an earlier build."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(dest)


def vocabulary_files(vocab_from, src, tgt, joined):
    """The sentencepiece model and fairseq dictionary of each language in ``vocab_from``, a
    directory prepare() wrote: {lang: (model, dictionary)}; a clear error when one is missing or
    the directory was prepared with the other --joined setting."""
    vocab_from = Path(vocab_from).absolute()
    previous = _load_manifest(vocab_from)
    if previous is None:
        raise PrepareError(f"--vocab-from {vocab_from}: no manifest.json (not a data_prep output)")
    if bool(previous.get("options", {}).get("joined", True)) != bool(joined):
        raise PrepareError(f"--vocab-from {vocab_from} was prepared with{'out' if joined else ''} "
                           f"--joined; pass {'--no-joined' if joined else '--joined'} here too")
    files = {}
    for lang in (src, tgt):
        model = vocab_from / ("spm.model" if joined else f"spm.{lang}.model")
        dictionary = vocab_from / f"dict.{lang}.txt"
        for path in (model, dictionary):
            if not path.is_file():
                raise PrepareError(f"--vocab-from {vocab_from} has no {path.name} (languages {src}-{tgt}?)")
        files[lang] = (model, dictionary)
    return files


def train_command(dest, src, tgt, joined=True):
    """The fairseq-train command line for prepared data with the AutoAssist task."""
    return " ".join(
        [
            f"fairseq-train {shlex.quote(str(dest))}",
            '--user-dir "$(fairseq-autoassist-dir)"',
            "--task autoassist_translation",
            "--criterion autoassist_label_smoothed_cross_entropy --label-smoothing 0.1",
            f"--arch transformer -s {src} -t {tgt}",
            "--share-all-embeddings" if joined else "--share-decoder-input-output-embed",
            "--optimizer adam --adam-betas '(0.9, 0.98)' --clip-norm 0.0",
            "--lr 5e-4 --lr-scheduler inverse_sqrt --warmup-updates 4000",
            "--dropout 0.3 --weight-decay 0.0001 --max-tokens 4096",
        ]
    )


# ----------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------


def prepare(
    raw_dir,
    src,
    tgt,
    dest,
    train="train",
    valid="valid",
    test="test",
    vocab_size=8000,
    model_type="unigram",
    joined=True,
    max_len=250,
    len_ratio=2.0,
    workers=1,
    limit_train=0,
    limit_valid=0,
    limit_test=0,
    character_coverage=1.0,
    spm_sentences=2_000_000,
    seed=1,
    vocab_from=None,
):
    """Prepare ``RAW_DIR/{train,valid,test}.{src,tgt}[.gz]`` into ``dest``; returns the manifest.

    ``max_len`` and ``len_ratio`` count sentencepiece pieces of training pairs;
    ``limit_*`` keep only the first N lines of a split (0 = all, training pairs
    are limited before cleaning); ``spm_sentences`` caps the sentences
    sentencepiece trains on (a fixed-seed sample of pairs beyond that);
    ``vocab_from`` (a directory prepare() wrote) gives the sentencepiece model(s) and
    dictionaries to use instead of training new ones (``vocab_size`` is then theirs).
    Raises PrepareError on bad input.
    """
    raw_dir, dest = Path(raw_dir).absolute(), Path(dest).absolute()
    if not src or not tgt or src == tgt:
        raise PrepareError(f"source and target languages must be two different codes, got {src!r} and {tgt!r}")
    if model_type not in ("unigram", "bpe"):
        raise PrepareError(f"--model-type must be unigram or bpe, got {model_type!r}")
    for name, value in [("limit-train", limit_train), ("limit-valid", limit_valid), ("limit-test", limit_test)]:
        if value < 0:
            raise PrepareError(f"--{name} must be >= 0, got {value}")
    if vocab_size < 1 or max_len < 1 or len_ratio < 1 or workers < 1:
        raise PrepareError("--vocab-size, --max-len and --workers must be >= 1, --len-ratio >= 1.0")

    langs = (src, tgt)
    files = find_inputs(raw_dir, {"train": train, "valid": valid, "test": test}, langs)
    options = dict(
        src=src, tgt=tgt, vocab_size=vocab_size, model_type=model_type, joined=joined, max_len=max_len,
        len_ratio=len_ratio, workers=workers, limit_train=limit_train, limit_valid=limit_valid,
        limit_test=limit_test, character_coverage=character_coverage, spm_sentences=spm_sentences, seed=seed,
    )  # fmt: skip
    vocabulary = None
    if vocab_from:
        vocabulary = vocabulary_files(vocab_from, src, tgt, joined)
        options["vocab_from"] = str(Path(vocab_from).absolute())

    logger.info("checksumming the input files")
    inputs = {
        split: {lang: {"path": str(path), "sha256": sha256(path)} for lang, path in paths.items()}
        for split, paths in files.items()
    }
    key_data = {
        "format_version": FORMAT_VERSION,
        "options": options,
        "inputs": {split: {lang: d["sha256"] for lang, d in by_lang.items()} for split, by_lang in inputs.items()},
    }
    if vocabulary:  # a changed vocabulary rebuilds
        key_data["vocabulary"] = {lang: [sha256(path) for path in paths] for lang, paths in vocabulary.items()}
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()

    previous = _load_manifest(dest)
    if (
        previous is not None
        and previous.get("key") == key
        and "files" in previous
        and all((dest / name).is_file() for name in previous["files"])
    ):
        logger.info("%s is up to date (same inputs and options), nothing to do", dest)
        return previous
    if dest.exists() and (not dest.is_dir() or (previous is None and any(dest.iterdir()))):
        raise PrepareError(
            f"{dest} exists and is not an earlier prepare.py output (no manifest.json); not replacing it"
        )

    logger.info("counting lines")
    limits = {"train": limit_train, "valid": limit_valid, "test": limit_test}
    totals = {}
    for split, paths in files.items():
        n = {lang: count_lines(paths[lang]) for lang in langs}
        if n[src] != n[tgt]:
            raise PrepareError(
                f"{split} line counts differ: {paths[src]} has {n[src]} lines, {paths[tgt]} has {n[tgt]} lines"
            )
        if n[src] == 0:
            raise PrepareError(f"{split} split is empty: {paths[src]} and {paths[tgt]} have no lines")
        totals[split] = n[src]
        for lang in langs:
            inputs[split][lang]["lines"] = n[lang]

    dest.parent.mkdir(parents=True, exist_ok=True)
    build = dest.with_name(f".{dest.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    build.mkdir()
    try:
        manifest = _build(build, dest, files, totals, limits, options, vocabulary)
        manifest.update(format_version=FORMAT_VERSION, key=key, inputs=inputs)
        manifest["files"] = sorted(p.name for p in build.iterdir())
        (build / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _replace_dir(build, dest)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    logger.info("wrote %s", dest)
    return manifest


def _build(out, dest, files, totals, limits, o, vocabulary=None):
    """All the steps, writing into the temporary directory ``out``; returns the manifest (without
    key/inputs). ``vocabulary`` ({lang: (sentencepiece model, dictionary)}) replaces training a
    model and building dictionaries."""
    import sentencepiece as spm

    src, tgt, workers = o["src"], o["tgt"], o["workers"]
    langs = (src, tgt)
    work = out / "work"
    work.mkdir()
    started = time.time()

    logger.info("normalising and cleaning the training pairs")
    read, empty = _clean_train(files["train"], src, tgt, totals["train"], limits["train"], work)
    kept = read - empty
    if kept == 0:
        raise PrepareError(
            f"the training set is empty after cleaning: {read} pairs read from {files['train'][src]} "
            f"and {files['train'][tgt]}, all of them with an empty side"
        )

    counts = {}
    for split in ("valid", "test"):
        for lang in langs:
            n = write_lines(out / f"{split}.raw.{lang}", read_lines(files[split][lang], limits[split]))
        counts[split] = {"before": n, "after": n}

    groups = [langs] if o["joined"] else [(src,), (tgt,)]
    models = {}
    for group in groups:
        name = "spm" if o["joined"] else f"spm.{group[0]}"
        if vocabulary:
            logger.info("sentencepiece model %s and dictionaries from %s", name, o["vocab_from"])
            model = Path(shutil.copyfile(vocabulary[group[0]][0], out / f"{name}.model"))
            models.update((lang, model) for lang in group)
            continue
        logger.info("training sentencepiece %s model %s (vocab %d)", o["model_type"], name, o["vocab_size"])
        text = _spm_training_text(work, group, kept, o["spm_sentences"], o["seed"])
        model = _train_spm(text, out / name, o["vocab_size"], o["model_type"], o["character_coverage"], workers)
        for lang in group:
            models[lang] = model
    sps = {lang: spm.SentencePieceProcessor(model_file=str(models[lang])) for lang in langs}

    logger.info("encoding the training pairs, limit %d pieces, ratio %.2f", o["max_len"], o["len_ratio"])
    enc = _encode_train(sps, work, src, tgt, kept, o["max_len"], o["len_ratio"], workers, out / "train.lines")
    if enc["kept"] == 0:
        raise PrepareError(
            f"the training set is empty after cleaning: {read} pairs read, {empty} with an empty side, "
            f"{enc['too_long']} longer than --max-len {o['max_len']}, {enc['ratio']} over --len-ratio "
            f"{o['len_ratio']}, {enc['empty_pieces']} with no pieces"
        )
    counts["train"] = {
        "before": read,
        "after": enc["kept"],
        "dropped_empty": empty + enc["empty_pieces"],
        "dropped_too_long": enc["too_long"],
        "dropped_ratio": enc["ratio"],
    }
    logger.info("training pairs: %(before)d read, %(after)d kept", counts["train"])
    for split in ("valid", "test"):
        for lang in langs:
            _encode_file(sps[lang], out / f"{split}.raw.{lang}", work / f"{split}.{lang}", workers)

    _binarize(out, src, tgt, o["joined"], workers,
              {lang: paths[1] for lang, paths in vocabulary.items()} if vocabulary else None)
    shutil.rmtree(work)

    def count_dict(lang):  # fairseq adds <s>, <pad>, </s>, <unk> to the file's entries
        return 4 + sum(1 for _ in _open_in(out / f"dict.{lang}.txt"))

    logger.info("done in %.1fs", time.time() - started)
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dest": str(dest),
        "src": src,
        "tgt": tgt,
        "options": o,
        "counts": counts,
        "vocab_size": sps[src].get_piece_size() if vocabulary else o["vocab_size"],
        "spm_model": str(dest / "spm.model") if o["joined"] else None,
        "spm_models": {lang: str(dest / models[lang].name) for lang in langs},
        "dict_size": {lang: count_dict(lang) for lang in langs},
        "references": {s: {lang: str(dest / f"{s}.raw.{lang}") for lang in langs} for s in ("valid", "test")},
        "train_lines": str(dest / "train.lines"),
        "train_command": train_command(dest, src, tgt, o["joined"]),
    }


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------


def _count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_common_args(parser, vocab_size=8000):
    """Options shared by prepare.py and every recipe (the recipes pass them through)."""
    g = parser.add_argument_group("preparation")
    g.add_argument("--vocab-size", type=int, default=vocab_size, metavar="N",
                   help="sentencepiece vocabulary size (exact; too large for the data is an error) "
                        "(default: %(default)s)")
    g.add_argument("--model-type", choices=["unigram", "bpe"], default="unigram",
                   help="sentencepiece model type (default: %(default)s)")
    g.add_argument("--joined", action=argparse.BooleanOptionalAction, default=True,
                   help="one sentencepiece model and a joined fairseq dictionary for both languages "
                        "(--no-joined: one model and dictionary per language) (default: %(default)s)")
    g.add_argument("--max-len", type=int, default=250, metavar="N",
                   help="drop training pairs with a side longer than N sentencepiece pieces (default: %(default)s)")
    g.add_argument("--len-ratio", type=float, default=2.0, metavar="R",
                   help="drop training pairs whose longer side has more than R times the pieces of the "
                        "shorter side (default: %(default)s)")
    g.add_argument("--character-coverage", type=float, default=1.0, metavar="F",
                   help="sentencepiece character coverage (default: %(default)s; ~0.9995 for CJK)")
    g.add_argument("--spm-sentences", type=_count, default=2_000_000, metavar="N",
                   help="train sentencepiece on at most N sentences, a fixed-seed sample of the training "
                        "pairs (0 = all) (default: %(default)s)")
    g.add_argument("--seed", type=int, default=1, help="seed for that sample (default: %(default)s)")
    g.add_argument("--workers", type=int, default=1, metavar="N",
                   help="threads for sentencepiece and processes for fairseq binarisation; part of the "
                        "reproducibility key since sentencepiece's result depends on it (default: %(default)s)")
    g.add_argument("--vocab-from", metavar="DIR",
                   help="use the sentencepiece model(s) and fairseq dictionaries of DIR, data prepared "
                        "before (e.g. a parent model's, to fine-tune it on this data), instead of new ones; "
                        "--vocab-size, --model-type, --character-coverage and --spm-sentences are then unused")
    g.add_argument("--limit-train", type=_count, default=0, metavar="N",
                   help="use only the first N training pairs, before cleaning (0 = all)")
    g.add_argument("--limit-valid", type=_count, default=0, metavar="N",
                   help="use only the first N valid lines (0 = all)")
    g.add_argument("--limit-test", type=_count, default=0, metavar="N",
                   help="use only the first N test lines (0 = all)")  # fmt: skip
    return g


def common_kwargs(args):
    """The keyword arguments of prepare() that add_common_args() parsed."""
    names = ["vocab_size", "model_type", "joined", "max_len", "len_ratio", "character_coverage",
             "spm_sentences", "seed", "workers", "limit_train", "limit_valid", "limit_test", "vocab_from"]  # fmt: skip
    return {name: getattr(args, name) for name in names}


def run_cli(build):
    """Run ``build()`` (which returns a manifest) as a command: log to stderr, print
    the fairseq-train command on success, print the error and return 1 on PrepareError."""
    logging.basicConfig(
        format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
        level=os.environ.get("LOGLEVEL", "INFO").upper(),
        stream=sys.stderr,
    )
    try:
        manifest = build()
    except PrepareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    c = manifest["counts"]
    print(
        f"Prepared {manifest['src']}-{manifest['tgt']} in {manifest['dest']}: "
        f"train {c['train']['after']} pairs (of {c['train']['before']}), valid {c['valid']['after']}, "
        f"test {c['test']['after']}; references: {manifest['dest']}/{{valid,test}}.raw.*"
    )
    print("Train with:\n\n  " + manifest["train_command"] + "\n")
    return 0


def get_parser():
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.prepare",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--raw-dir", required=True, metavar="DIR", help="directory with PREFIX.LANG[.gz] files")
    parser.add_argument("--src", "-s", required=True, metavar="L1", help="source language code (file suffix)")
    parser.add_argument("--tgt", "-t", required=True, metavar="L2", help="target language code (file suffix)")
    for split, name in (("train", "training"), ("valid", "validation"), ("test", "test")):
        parser.add_argument(
            f"--{split}", default=split, metavar="PREFIX", help=f"{name} file prefix (default: %(default)s)"
        )
    parser.add_argument("--dest", required=True, metavar="DIR", help="output directory (fairseq data-bin)")
    add_common_args(parser)
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    return run_cli(
        lambda: prepare(
            args.raw_dir, args.src, args.tgt, args.dest,
            train=args.train, valid=args.valid, test=args.test, **common_kwargs(args),
        )  # fmt: skip
    )


if __name__ == "__main__":
    sys.exit(main())
