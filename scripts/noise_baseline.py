"""An opusfilter heuristic baseline for the noise benchmark: a standard set of OpusFilter filters run
on the training pairs of a fairseq data directory, one CSV row per pair (the pair id is its index in
the training split), for ``experiment noise-eval --columns all``.

The text is decoded from the fairseq binaries (the directory's dictionaries and sentencepiece model,
the languages from ``manifest.json``), so it is what the model trains on. The filters, run through
opusfilter's Python API (each filter's ``score()`` and ``accept()`` on (source, target) pairs), with
the thresholds of opusfilter's defaults:

* ``LengthRatioFilter`` unit word, threshold 3 (fails at a ratio >= 3);
* language identification: ``LangidFilter`` (``LanguageIDFilter`` with ``id_method: langid``,
  py3langid's bundled model, all its languages), thresholds [0, 0] (fails where the predicted
  language of either side is not the expected one); ``--lid lingua`` uses ``LinguaFilter``
  (low-accuracy mode, all languages) instead. opusfilter 3.3.1 calls a loader that py3langid 0.3+
  renamed; the script aliases it (see ``_py3langid_compat``);
* ``TerminalPunctuationFilter`` threshold -2; ``NonZeroNumeralsFilter`` threshold 0.5;
  ``AlphabetRatioFilter`` threshold 0.75 (whitespace counted); ``RepetitionFilter`` threshold 2
  (min_length 3, max_length 100); ``LongWordFilter`` threshold 40;
* copies: ``SimilarityFilter`` threshold 0.9 (character Levenshtein similarity, case kept).

Columns: ``id``; per filter ``opusfilter_<name>_fail`` (1 = rejected by the filter = flagged as
noise) and ``opusfilter_<name>``, its score oriented so that higher = noisier (e.g.
``opusfilter_langid`` = 1 - the identifier's confidence in the expected language, the worse side;
infinite length ratios are written as 1e6); ``opusfilter_flags`` (filters failed) and
``opusfilter_any`` (1 = failed at least one).

Example::

    python -m scripts.experiment noise-baseline data-bin/m30k_cs_en_crawl --out runs/baseline-crawl.csv
    python -m scripts.experiment noise-eval --pairs runs/baseline-crawl.csv --columns all --flagged \\
        --labels data-bin/m30k_cs_en_crawl/labels.json
"""

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

INF = 1e6  # written for an infinite length ratio (one side empty)


def log(msg):
    print(f"[noise_baseline {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _opusfilter():
    """opusfilter's filters module and version, or exit 1 with how to install it."""
    try:
        import opusfilter.filters as filters
    except ImportError as e:
        print(f"error: cannot import opusfilter ({e}); pip install opusfilter", file=sys.stderr)
        sys.exit(1)
    try:
        from importlib.metadata import version
        ver = version("opusfilter")
    except Exception:  # pragma: no cover - metadata missing
        ver = "unknown"
    return filters, ver


def _spm_path(data, manifest, lang):
    """The sentencepiece model of *lang*: the directory's spm.model, else the one the manifest
    names (its file name looked up in *data* first)."""
    named = (manifest.get("spm_models") or {}).get(lang) or manifest.get("spm_model")
    candidates = []
    if named:
        candidates.append(data / Path(named).name)
    candidates.append(data / "spm.model")
    if named:
        candidates.append(Path(named))
    for path in candidates:
        if path.is_file():
            return path
    raise SystemExit(f"error: no sentencepiece model for {lang} in {data} (spm.model)")


def decode_train(data, src, tgt):
    """The training pairs of the fairseq directory *data* as detokenized (source, target) text."""
    import sentencepiece as spm
    from fairseq.data import Dictionary, data_utils

    manifest_path = data / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    sides = []
    for lang in (src, tgt):
        vocab = Dictionary.load(str(data / f"dict.{lang}.txt"))
        prefix = None
        for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
            if (data / f"train.{pair}.{lang}.idx").is_file():
                prefix = str(data / f"train.{pair}.{lang}")
                break
        if prefix is None:
            raise SystemExit(f"error: no train.{src}-{tgt}.{lang}.idx in {data}")
        dataset = data_utils.load_indexed_dataset(prefix, vocab)
        sp = spm.SentencePieceProcessor(model_file=str(_spm_path(data, manifest, lang)))
        unk = vocab.unk()
        lines, n_unk = [], 0
        for i in range(len(dataset)):
            ids = dataset[i].tolist()
            n_unk += sum(t == unk for t in ids)
            pieces = [vocab[t] for t in ids if t != vocab.eos() and t != vocab.pad()]
            lines.append(sp.decode_pieces(pieces))
        log(f"decoded {len(lines)} {lang} sentences from {prefix} ({n_unk} <unk> tokens)")
        sides.append(lines)
    if len(sides[0]) != len(sides[1]):
        raise SystemExit(f"error: {len(sides[0])} {src} sentences, {len(sides[1])} {tgt}")
    return list(zip(*sides))


def _py3langid_compat():
    """opusfilter (3.3.1) loads langid's model with ``LanguageIdentifier.from_pickled_model``, which
    py3langid 0.3+ no longer has (its model is an .npz file read by ``from_model_file``; this
    project needs that py3langid, so no downgrade): alias the old name to the new loader, in this
    process only."""
    try:
        from py3langid.langid import LanguageIdentifier
    except ImportError:
        return
    if not hasattr(LanguageIdentifier, "from_pickled_model") and hasattr(LanguageIdentifier, "from_model_file"):
        LanguageIdentifier.from_pickled_model = LanguageIdentifier.from_model_file
        log("py3langid has no from_pickled_model (opusfilter expects py3langid<0.3): "
            "aliased it to from_model_file")


def make_filters(filters, src, tgt, lid="langid"):
    """(name, filter, score -> noisier-is-higher number) for the baseline's filter set."""
    def worst_conf(s):
        return 1.0 - min(s)

    if lid == "langid":
        _py3langid_compat()
        try:
            from opusfilter.lid import LangidFilter
            lang = LangidFilter(languages=[src, tgt], thresholds=[0, 0])
        except ImportError:  # older opusfilter: the common (deprecated) class
            lang = filters.LanguageIDFilter(languages=[src, tgt], id_method="langid", thresholds=[0, 0])
    else:
        try:
            from opusfilter.lid import LinguaFilter
            lang = LinguaFilter(languages=[src, tgt], thresholds=[0, 0], lingua_mode="low")
        except ImportError:
            lang = filters.LanguageIDFilter(languages=[src, tgt], id_method="lingua", thresholds=[0, 0],
                                            lingua_mode="low")
    out = [
        ("length_ratio", filters.LengthRatioFilter(unit="word", threshold=3),
         lambda s: INF if math.isinf(s) else float(s)),
        ("langid", lang, worst_conf),
        ("terminal_punct", filters.TerminalPunctuationFilter(threshold=-2), lambda s: -float(s)),
        ("numerals", filters.NonZeroNumeralsFilter(threshold=0.5), lambda s: 1.0 - min(s)),
        ("alphabet_ratio", filters.AlphabetRatioFilter(threshold=0.75), lambda s: 1.0 - min(s)),
        ("repetition", filters.RepetitionFilter(threshold=2, min_length=3, max_length=100), float),
        ("long_word", filters.LongWordFilter(threshold=40), lambda s: float(max(s))),
    ]
    if hasattr(filters, "SimilarityFilter"):
        out.append(("similarity", filters.SimilarityFilter(threshold=0.9, unit="char"),
                    lambda s: float(max(s))))
    else:
        log("opusfilter has no SimilarityFilter: no copy filter")
    return out


def score_pairs(pairs, filter_set):
    """Per column name, a list with one value per pair."""
    cols = {}
    fails = [0] * len(pairs)
    for name, filt, noisier in filter_set:
        start = time.time()
        flag, value, extra = [], [], {}
        for i, score in enumerate(filt.score(pairs)):
            failed = not filt.accept(score)
            flag.append(int(failed))
            fails[i] += int(failed)
            value.append(noisier(score))
            if name == "langid":
                extra.setdefault("opusfilter_langid_src", []).append(1.0 - score[0])
                extra.setdefault("opusfilter_langid_tgt", []).append(1.0 - score[1])
        cols[f"opusfilter_{name}_fail"] = flag
        cols[f"opusfilter_{name}"] = value
        cols.update(extra)
        log(f"{type(filt).__name__}: {sum(flag)} of {len(pairs)} pairs fail ({time.time() - start:.1f} s)")
    cols["opusfilter_flags"] = fails
    cols["opusfilter_any"] = [int(f > 0) for f in fails]
    return cols


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="a fairseq data directory (data_prep output)")
    p.add_argument("--out", required=True, type=Path, help="the CSV to write")
    p.add_argument("--src", help="source language (default: manifest.json's src)")
    p.add_argument("--tgt", help="target language (default: manifest.json's tgt)")
    p.add_argument("--lid", choices=("langid", "lingua"), default="langid",
                   help="language identifier (both ship their models; default langid)")
    args = p.parse_args(argv)
    filters, version = _opusfilter()
    start = time.time()
    log(f"opusfilter {version}")
    manifest_path = args.data / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    src, tgt = args.src or manifest.get("src"), args.tgt or manifest.get("tgt")
    if not src or not tgt:
        raise SystemExit(f"error: no src/tgt in {manifest_path}; give --src and --tgt")
    pairs = decode_train(args.data, src, tgt)
    filter_set = make_filters(filters, src, tgt, args.lid)
    log(f"{len(pairs)} {src}-{tgt} pairs, filters: {', '.join(type(f).__name__ for _, f, _ in filter_set)}")
    cols = score_pairs(pairs, filter_set)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    names = list(cols)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id"] + names)
        for i in range(len(pairs)):
            w.writerow([i] + [f"{cols[k][i]:.6g}" if isinstance(cols[k][i], float) else cols[k][i]
                              for k in names])
    flagged = sum(cols["opusfilter_any"])
    log(f"{flagged} of {len(pairs)} pairs fail at least one filter; wrote {args.out} "
        f"({time.time() - start:.0f} s)")
    return 0
