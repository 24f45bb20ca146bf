#!/usr/bin/env python3
"""A noisy copy of a prepared corpus: seeded fractions of the training pairs corrupted, by kind.

Each kind of noise has its own flag, which takes the fraction of the training pairs (of the whole
split) to corrupt that way; one run can plant several kinds, and the pairs chosen for different
kinds are disjoint. The kinds:

* ``misaligned`` (``--misaligned F``, alias ``--fraction F``): the targets of the chosen pairs are
  shuffled among themselves (a derangement: no chosen pair keeps its own target), as misaligned
  web-crawled pairs are.
* ``near_miss``: misaligned, but each chosen pair takes the target of the pair whose source is the
  most similar to its own (TF-IDF cosine over the source tokens), never itself, nor a pair with the
  same source or the same target.
* ``misordered``: the target's words shuffled (a word is a sentencepiece piece starting with "▁"
  and the pieces that follow it; end-of-sentence stays last); only targets with at least two
  distinct words are chosen and their order always changes.
* ``wrong_language``: the target replaced by a real sentence of another language, a random line of
  one of the ``--other-language`` files (equal parts per file), normalised as ``data_prep.prepare``
  does and encoded with the corpus's own sentencepiece model and target dictionary (unknown pieces
  become <unk>).
* ``untranslated``: the target replaced by a copy of the source; ``untranslated_reverse``: the
  source replaced by a copy of the target. Both need a joined dictionary.
* ``short``: both sides cut to their first k words, k drawn from 2-5 per pair (only pairs with
  more than k words on each side are chosen, so both sides get shorter).
* ``templated``: templated near-duplicates, as crawled tag lists are: the chosen pairs form groups
  of 5-20; each group has one base pair (a random uncorrupted training pair, left as it is) and
  every member becomes the base pair with the words of each side in a random order.
* ``--mixed F``: all the kinds above in equal parts, F in total (wrong_language only with
  ``--other-language``, untranslated in the forward direction only and only with a joined
  dictionary); it cannot be combined with the per-kind flags.

Without any kind flag, 20% of the pairs are misaligned (as before). Dictionaries, valid and test
splits and the sentencepiece model are copied unchanged, so models are evaluated on clean data;
the training source and target binaries are rewritten where a kind changes them.

``DEST/corrupted.json`` records the corrupted pairs (0-based training pair indices, as fairseq
numbers them): ``ids`` and ``target_from`` are the misaligned pairs and whose original target each
took (as in earlier versions), ``all_ids`` every corrupted pair, and ``kinds`` maps each kind used
to ``{"ids": [...]}`` plus lists parallel to ``ids``: ``target_from`` (misaligned, near_miss),
``similarity`` (near_miss), ``file`` and ``line`` (wrong_language; 1-based line numbers),
``words`` (short: k) and ``base`` (templated: the group's base pair). ``DEST/manifest.json`` is
the source's manifest with a ``corrupted`` entry (source, seed, total count and fraction, and
per-kind counts and fractions).

Example::

    python -m data_prep.corrupt --src-dir data-bin/m30k_10k --dest data-bin/m30k_10k_noisy20 \\
        --fraction 0.2 --seed 1
    python -m data_prep.corrupt --src-dir data-bin/multi30k_de_en --dest data-bin/m30k_mixed30 \\
        --mixed 0.3 --other-language ../shared/data/multi30k/train.fr.gz \\
        ../shared/data/multi30k/train.cs.gz
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np


class CorruptError(Exception):
    """Bad input; the command line prints it and exits with status 1."""


# in the order the pairs are chosen (misaligned first: alone, it gives the same pairs as before)
KINDS = ("misaligned", "near_miss", "misordered", "wrong_language", "untranslated",
         "untranslated_reverse", "short", "templated")  # fmt: skip
MIXED_KINDS = ("misaligned", "near_miss", "misordered", "wrong_language", "untranslated", "short",
               "templated")  # fmt: skip
DEFAULT_FRACTION = 0.2
SHORT_WORDS = (2, 5)  # short: k words per side, k drawn from this range (inclusive)
GROUP_SIZES = (5, 20)  # templated: members per group (inclusive)
MIN_COUNT = {"misaligned": 2, "templated": GROUP_SIZES[0]}
WORD_START = "\u2581"  # sentencepiece's word-boundary mark
SIMILARITY_BUDGET = 5_000_000  # near_miss: similarity entries computed per chunk (bounds memory)


def _flag(kind):
    return "--" + kind.replace("_", "-")


def _train_prefix(src_dir, src, tgt):
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        if (src_dir / f"train.{pair}.{tgt}.idx").is_file():
            return f"train.{pair}"
    raise CorruptError(f"{src_dir} has no train.{src}-{tgt}.{tgt}.idx: prepare it with data_prep")


def corrupted_ids(n_pairs, fraction, seed):
    """The sorted ids of the pairs to misalign, and a derangement of them (whose target each
    takes); :func:`corrupt` with only misaligned pairs chooses the same."""
    if not 0.0 < fraction <= 1.0:
        raise CorruptError(f"--fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    count = int(round(fraction * n_pairs))
    if count < 2:
        raise CorruptError(f"--fraction {fraction} of {n_pairs} pairs corrupts fewer than 2 pairs")
    ids = np.sort(rng.choice(n_pairs, size=count, replace=False))
    return ids, _derangement(ids, rng)


def _derangement(ids, rng):
    # a cyclic shift of a random order never maps a pair to itself
    order = rng.permutation(len(ids))
    donors = np.empty(len(ids), dtype=np.int64)
    donors[order] = ids[np.roll(order, 1)]
    return donors


# ----------------------------------------------------------------------------
# what to plant: fractions -> counts
# ----------------------------------------------------------------------------


def _requested(fraction, misaligned, mixed, other_language, kinds):
    """Check the fractions (before anything is read); returns {kind: fraction > 0}."""
    if fraction is not None and misaligned is not None and fraction != misaligned:
        raise CorruptError(f"--fraction is an alias of --misaligned: got both ({fraction} and {misaligned})")
    if misaligned is None:
        misaligned = fraction
    given = dict(misaligned=misaligned, **kinds, mixed=mixed)
    for kind, value in given.items():
        if value is not None and not 0.0 <= value <= 1.0:
            raise CorruptError(f"{_flag(kind)} must be a fraction in [0, 1], got {value}")
    explicit = {kind: value for kind, value in given.items() if kind != "mixed" and value}
    if mixed and explicit:
        raise CorruptError(f"--mixed cannot be combined with {', '.join(map(_flag, explicit))}: "
                           "use either --mixed or the per-kind flags")
    if not mixed and not explicit:
        if any(value is not None for value in given.values()):
            raise CorruptError("every fraction is 0: nothing to corrupt")
        explicit = {"misaligned": DEFAULT_FRACTION}
    total = mixed or sum(explicit.values())
    if total > 1.0 + 1e-9:
        raise CorruptError(f"the fractions add up to {total:g} > 1: "
                           + ", ".join(f"{_flag(k)} {v:g}" for k, v in explicit.items()))
    if other_language and not (mixed or explicit.get("wrong_language")):
        raise CorruptError("--other-language is only used by --wrong-language or --mixed")
    if explicit.get("wrong_language") and not other_language:
        raise CorruptError("--wrong-language needs --other-language FILE [FILE ...] (raw text of "
                           "another language, plain or .gz)")
    for path in other_language or ():
        if not Path(path).is_file():
            raise CorruptError(f"--other-language file {path} does not exist")
    return explicit


def _counts(explicit, mixed, n_pairs, other_language, joined):
    """{kind: number of pairs}; a kind asked for that would get too few pairs is an error."""
    if mixed:
        kinds = [k for k in MIXED_KINDS if (k != "wrong_language" or other_language)
                 and (k != "untranslated" or joined)]  # fmt: skip
        total = int(round(mixed * n_pairs))
        base, extra = divmod(total, len(kinds))
        counts = {k: base + (i < extra) for i, k in enumerate(kinds)}
        for kind, count in counts.items():
            if count < MIN_COUNT.get(kind, 1):
                raise CorruptError(
                    f"--mixed {mixed:g} of {n_pairs} training pairs gives {kind} {count} pair(s), fewer "
                    f"than the {MIN_COUNT.get(kind, 1)} it needs: raise --mixed")
        return counts
    counts = {}
    for kind in KINDS:
        if kind not in explicit:
            continue
        count = int(round(explicit[kind] * n_pairs))
        need = MIN_COUNT.get(kind, 1)
        if count < need:
            raise CorruptError(f"{_flag(kind)} {explicit[kind]:g} of {n_pairs} training pairs corrupts "
                               f"{count} pair(s), fewer than the {need} it needs")
        counts[kind] = count
    if sum(counts.values()) > n_pairs:
        raise CorruptError(f"{sum(counts.values())} pairs to corrupt, but only {n_pairs} training pairs")
    if ("untranslated" in counts or "untranslated_reverse" in counts) and not joined:
        flags = [_flag(k) for k in ("untranslated", "untranslated_reverse") if k in counts]
        raise CorruptError(f"{' and '.join(flags)} need{'s' if len(flags) == 1 else ''} a joined dictionary "
                           "(dict.SRC.txt identical to dict.TGT.txt; prepare with --joined), the corpus has "
                           "one dictionary per language")
    return counts


# ----------------------------------------------------------------------------
# the corpus as flat numpy arrays
# ----------------------------------------------------------------------------


class _Side:
    """One side of the training split: all tokens in one array, sentence i at offsets[i]:offsets[i+1]."""

    def __init__(self, prefix):
        from fairseq.data import indexed_dataset

        index = indexed_dataset.MMapIndexedDataset.Index(indexed_dataset.index_file_path(prefix))
        self.dtype = index.dtype
        self.sizes = np.array(index.sizes, dtype=np.int64)
        del index
        self.tokens = np.fromfile(indexed_dataset.data_file_path(prefix), dtype=self.dtype)
        self.offsets = np.zeros(len(self.sizes) + 1, dtype=np.int64)
        np.cumsum(self.sizes, out=self.offsets[1:])
        if self.offsets[-1] != len(self.tokens):
            raise CorruptError(f"{prefix}.bin does not hold its sentences back to back: not a "
                               "fairseq-preprocess mmap dataset?")

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, i):
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def word_counts(self, starts, eos):
        """Words per sentence (vectorised): word-start pieces, plus a leading word without one."""
        cum = np.concatenate([[0], np.cumsum(starts[self.tokens], dtype=np.int64)])
        n = cum[self.offsets[1:]] - cum[self.offsets[:-1]]
        first = self.tokens[np.minimum(self.offsets[:-1], max(len(self.tokens) - 1, 0))]
        return n + ((self.sizes > 0) & ~starts[first] & (first != eos))


def _word_starts(vocab):
    """Per dictionary index: does the piece start a word."""
    return np.array([i >= vocab.nspecial and s.startswith(WORD_START) for i, s in enumerate(vocab.symbols)])


def _words(sentence, starts, eos):
    """The words of a sentence (token arrays), without the final end-of-sentence token."""
    body = sentence[:-1] if len(sentence) and sentence[-1] == eos else sentence
    return [w for w in np.split(body, np.flatnonzero(starts[body])) if len(w)]


def _sentence(words, eos, dtype):
    return np.concatenate([*words, np.array([eos])]).astype(dtype)


def _shuffled(words, rng, must_change):
    """The words in a random order; with ``must_change`` a different token sequence (the words
    must then hold at least two distinct ones: a rotation of them always differs)."""
    new = [words[k] for k in rng.permutation(len(words))]
    if must_change and np.array_equal(np.concatenate(new), np.concatenate(words)):
        new = words[1:] + words[:1]
    return new


def _distinct(words):
    return len({w.tobytes() for w in words})


# ----------------------------------------------------------------------------
# choosing the pairs
# ----------------------------------------------------------------------------


def _select(rng, available, count, kind, why, prefilter=None, accept=None):
    """``count`` random available pairs (passing ``prefilter``, a mask, and ``accept``, a test per
    pair), sorted; marks them unavailable."""
    candidates = np.flatnonzero(available if prefilter is None else available & prefilter)
    if accept is None:
        chosen = rng.choice(candidates, size=count, replace=False) if len(candidates) >= count else []
    else:
        chosen = []
        for i in rng.permutation(candidates):
            if accept(int(i)):
                chosen.append(i)
                if len(chosen) == count:
                    break
    if len(chosen) < count:
        raise CorruptError(f"{_flag(kind)}: {count} pairs asked for, but only {len(chosen)} of the "
                           f"training pairs not chosen for another kind {why}; lower the fraction")
    ids = np.sort(np.asarray(chosen, dtype=np.int64))
    available[ids] = False
    return ids


def _group_sizes(count, rng):
    """Sizes in GROUP_SIZES adding up to ``count`` (>= the smallest size)."""
    low, high = GROUP_SIZES
    sizes, left = [], count
    while left:
        size = left if left <= high else int(rng.integers(low, min(high, left - low) + 1))
        sizes.append(size)
        left -= size
    return sizes


# ----------------------------------------------------------------------------
# the kinds' new sentences
# ----------------------------------------------------------------------------


def _near_miss_donors(sources, targets, ids, nspecial, vocab_size, rng):
    """For each chosen pair, the pair whose source is the most similar to its own by TF-IDF
    cosine over source tokens (not itself, not the same source, not the same target) and the
    similarity; a random other pair (similarity 0) where no source shares a token."""
    from scipy import sparse

    n = len(sources)
    rows = np.repeat(np.arange(n), sources.sizes)
    cols = sources.tokens.astype(np.int64)
    keep = cols >= nspecial
    x = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, vocab_size))
    x.sum_duplicates()
    x.data = 1.0 + np.log(x.data)  # sublinear term frequency
    df = np.bincount(x.indices, minlength=vocab_size)
    x = (x @ sparse.diags(np.log((1.0 + n) / (1.0 + df)) + 1.0)).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = (sparse.diags(np.divide(1.0, norms, out=np.zeros(n), where=norms > 0)) @ x).tocsr()
    xt = x.T.tocsr()
    queries = x[ids]
    cost = queries.copy()
    cost.data = df[cost.indices].astype(np.float64)  # bound on the similarities a query row makes
    cost = np.concatenate([[0.0], np.cumsum(np.asarray(cost.sum(axis=1)).ravel())])

    def fits(i, j):
        return not (np.array_equal(sources[j], sources[i]) or np.array_equal(targets[j], targets[i]))

    donors, similarity = np.empty(len(ids), dtype=np.int64), np.zeros(len(ids))
    start = 0
    while start < len(ids):
        stop = int(np.searchsorted(cost, cost[start] + SIMILARITY_BUDGET, side="right")) - 1
        stop = min(max(stop, start + 1), len(ids))
        scores = (queries[start:stop] @ xt).tocsr()
        for r in range(stop - start):
            i, row = int(ids[start + r]), slice(scores.indptr[r], scores.indptr[r + 1])
            data, cols = scores.data[row].copy(), scores.indices[row]
            data[cols == i] = -1.0
            best = int(np.argmax(data)) if len(data) else -1
            if best >= 0 and data[best] > 0 and not fits(i, int(cols[best])):
                best = -1  # the best is a duplicate: take the best that fits
                for k in np.lexsort((cols, -data)):
                    if data[k] <= 0:
                        break
                    if fits(i, int(cols[k])):
                        best = int(k)
                        break
            if best >= 0 and data[best] > 0:
                donors[start + r], similarity[start + r] = cols[best], data[best]
            else:  # no other source shares a token with this one
                while True:
                    j = int(rng.integers(n))
                    if j != i and fits(i, j):
                        break
                donors[start + r] = j
        start = stop
    return donors, similarity


def _other_language_lines(paths, count, rng):
    """``count`` random non-empty normalised lines of ``paths``, equal parts per file (the
    remainder to random files), in random order: [(path, 1-based line number, text)]."""
    from data_prep.prepare import PrepareError, read_lines

    per_file = np.full(len(paths), count // len(paths))
    per_file[rng.choice(len(paths), size=count % len(paths), replace=False)] += 1
    picked = []
    for path, k in zip(paths, per_file):
        if not k:
            continue
        try:
            numbers = np.array([n for n, line in enumerate(read_lines(path), 1) if line], dtype=np.int64)
            if not len(numbers):
                raise CorruptError(f"--other-language file {path} has no non-empty line")
            chosen = rng.choice(numbers, size=int(k), replace=bool(k > len(numbers)))
            wanted, texts = set(chosen.tolist()), {}
            for n, line in enumerate(read_lines(path), 1):
                if n in wanted:
                    texts[n] = line
                    if len(texts) == len(wanted):
                        break
        except PrepareError as e:
            raise CorruptError(str(e)) from None
        picked += [(str(path), int(n), texts[int(n)]) for n in chosen]
    return [picked[k] for k in rng.permutation(len(picked))]


def _spm_model(src_dir, manifest, tgt):
    """The target side's sentencepiece model: the copy in src_dir, else the manifest's path."""
    recorded = (manifest.get("spm_models") or {}).get(tgt) or manifest.get("spm_model")
    candidates = [src_dir / Path(recorded).name, Path(recorded)] if recorded else []
    candidates += [src_dir / "spm.model", src_dir / f"spm.{tgt}.model"]
    for path in candidates:
        if path.is_file():
            return path
    raise CorruptError(f"no sentencepiece model for {tgt} in {src_dir} (spm.model or spm.{tgt}.model): "
                       "--wrong-language encodes the other-language lines with it")


# ----------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------


def corrupt(src_dir, dest, fraction=None, seed=1, src=None, tgt=None, *, misaligned=None, near_miss=None,
            misordered=None, wrong_language=None, other_language=None, untranslated=None,
            untranslated_reverse=None, short=None, templated=None, mixed=None):
    """Write the noisy copy of *src_dir* to *dest*; returns the manifest's ``corrupted`` entry.

    Each kind's argument is the fraction of the training pairs to corrupt that way (``fraction``
    is an alias of ``misaligned``); None or 0 leaves a kind out, and with no kind given at all
    ``DEFAULT_FRACTION`` of the pairs are misaligned.
    ``mixed`` spreads its fraction over the kinds in equal parts and excludes the others.
    Raises CorruptError on bad input.
    """
    other_language = [str(p) for p in other_language or ()]
    explicit = _requested(fraction, misaligned, mixed, other_language, dict(
        near_miss=near_miss, misordered=misordered, wrong_language=wrong_language, untranslated=untranslated,
        untranslated_reverse=untranslated_reverse, short=short, templated=templated))  # fmt: skip
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

    from fairseq.data import Dictionary, indexed_dataset

    sources, targets = _Side(str(src_dir / f"{prefix}.{src}")), _Side(str(src_dir / f"{prefix}.{tgt}"))
    n = len(targets)
    if len(sources) != n:
        raise CorruptError(f"{prefix}.{src} has {len(sources)} sentences, {prefix}.{tgt} has {n}")
    dict_paths = {lang: src_dir / f"dict.{lang}.txt" for lang in (src, tgt)}
    joined = dict_paths[src].read_bytes() == dict_paths[tgt].read_bytes()
    counts = _counts(explicit, mixed, n, other_language, joined)
    vocab = {lang: Dictionary.load(str(path)) for lang, path in dict_paths.items()}
    eos = {lang: vocab[lang].eos() for lang in (src, tgt)}
    starts = {lang: _word_starts(vocab[lang]) for lang in (src, tgt)}
    words = {src: sources.word_counts(starts[src], eos[src]), tgt: targets.word_counts(starts[tgt], eos[tgt])}
    spm_path = _spm_model(src_dir, manifest, tgt) if "wrong_language" in counts else None

    # choose the pairs, kind by kind, from those not chosen yet
    rng = np.random.default_rng(seed)
    available = np.ones(n, dtype=bool)
    ids, records = {}, {}
    for kind in counts:
        count = counts[kind]
        if kind == "misordered":
            ids[kind] = _select(
                rng, available, count, kind, "have a target of at least 2 distinct words",
                prefilter=words[tgt] >= 2, accept=lambda i: _distinct(_words(targets[i], starts[tgt], eos[tgt])) >= 2)
        elif kind == "short":
            ids[kind] = _select(rng, available, count, kind, f"have more than {SHORT_WORDS[0]} words per side",
                                prefilter=np.minimum(words[src], words[tgt]) > SHORT_WORDS[0])
        elif kind in ("untranslated", "untranslated_reverse"):
            ids[kind] = _select(rng, available, count, kind, "have a target that differs from the source",
                                accept=lambda i: not np.array_equal(sources[i], targets[i]))
        else:
            ids[kind] = _select(rng, available, count, kind, "are left")
        if kind == "misaligned":  # right after the choice: alone, the same pairs and donors as before
            records[kind] = {"target_from": _derangement(ids[kind], rng)}
    if "templated" in counts:
        sizes = _group_sizes(counts["templated"], rng)
        members = rng.permutation(ids["templated"])
        bases = rng.permutation(_select(
            rng, available, len(sizes), "templated", "are left as base pairs (uncorrupted, >= 2 words per side)",
            prefilter=(words[src] >= 2) & (words[tgt] >= 2)))  # fmt: skip
        base_of = dict(zip(members.tolist(), np.repeat(bases, sizes).tolist()))
        records["templated"] = {"base": np.array([base_of[int(i)] for i in ids["templated"]])}

    # the new sentences of the corrupted pairs: {pair id: tokens}
    dtype = {lang: indexed_dataset.best_fitting_int_dtype(len(vocab[lang])) for lang in (src, tgt)}
    new = {src: {}, tgt: {}}
    for kind in counts:
        chosen = ids[kind].tolist()
        if kind == "misaligned":
            for i, j in zip(chosen, records[kind]["target_from"].tolist()):
                new[tgt][i] = targets[j]
        elif kind == "near_miss":
            donors, similarity = _near_miss_donors(sources, targets, ids[kind], vocab[src].nspecial,
                                                   len(vocab[src]), rng)
            records[kind] = {"target_from": donors, "similarity": np.round(similarity, 6)}
            for i, j in zip(chosen, donors.tolist()):
                new[tgt][i] = targets[j]
        elif kind == "misordered":
            for i in chosen:
                new[tgt][i] = _sentence(_shuffled(_words(targets[i], starts[tgt], eos[tgt]), rng, True),
                                        eos[tgt], dtype[tgt])
        elif kind == "wrong_language":
            import sentencepiece as spm

            lines = _other_language_lines(other_language, len(chosen), rng)
            sp = spm.SentencePieceProcessor(model_file=str(spm_path))
            pieces = sp.encode([text for _, _, text in lines], out_type=str)
            for i, p in zip(chosen, pieces):
                new[tgt][i] = vocab[tgt].encode_line(" ".join(p), add_if_not_exist=False,
                                                     append_eos=True).numpy().astype(dtype[tgt])
            records[kind] = {"file": [f for f, _, _ in lines], "line": [k for _, k, _ in lines]}
        elif kind == "untranslated":
            for i in chosen:
                new[tgt][i] = sources[i]
        elif kind == "untranslated_reverse":
            for i in chosen:
                new[src][i] = targets[i]
        elif kind == "short":
            k_words = []
            for i in chosen:
                side_words = {lang: _words(side[i], starts[lang], eos[lang])
                              for lang, side in ((src, sources), (tgt, targets))}
                fewest = min(len(w) for w in side_words.values())
                k = int(rng.integers(SHORT_WORDS[0], min(SHORT_WORDS[1], fewest - 1) + 1))
                k_words.append(k)
                for lang, w in side_words.items():
                    new[lang][i] = _sentence(w[:k], eos[lang], dtype[lang])
            records[kind] = {"words": k_words}
        elif kind == "templated":
            for i, b in zip(chosen, records[kind]["base"].tolist()):
                for lang, side in ((src, sources), (tgt, targets)):
                    new[lang][i] = _sentence(_shuffled(_words(side[b], starts[lang], eos[lang]), rng, False),
                                             eos[lang], dtype[lang])

    partial = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    changed = [lang for lang in (src, tgt) if new[lang]]
    try:
        shutil.copytree(src_dir, partial, ignore=shutil.ignore_patterns(*(f"{prefix}.{lang}.*" for lang in changed)))
        for lang, side in ((src, sources), (tgt, targets)):
            if lang not in changed:
                continue
            builder = indexed_dataset.MMapIndexedDatasetBuilder(str(partial / f"{prefix}.{lang}.bin"),
                                                                dtype=dtype[lang])
            replaced = new[lang]
            for i in range(n):
                builder.add_item(_tensor(replaced[i] if i in replaced else side[i]))
            builder.finalize(str(partial / f"{prefix}.{lang}.idx"))

        all_ids = np.sort(np.concatenate([ids[k] for k in counts]))
        kinds = {}
        for kind in counts:
            kinds[kind] = {"ids": ids[kind].tolist()}
            for key, values in records.get(kind, {}).items():
                kinds[kind][key] = np.asarray(values).tolist()
        misaligned_record = kinds.get("misaligned", {"ids": [], "target_from": []})
        record = {"ids": misaligned_record["ids"], "target_from": misaligned_record["target_from"],
                  "all_ids": all_ids.tolist(), "kinds": kinds}
        (partial / "corrupted.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
        entry = {"source": str(src_dir), "seed": seed, "train_pairs": n, "ids_file": "corrupted.json",
                 "count": len(all_ids), "fraction": mixed or sum(explicit.values()),
                 "kinds": {k: {"count": c, "fraction": c / n} for k, c in counts.items()}}
        if mixed:
            entry["mixed"] = mixed
        if "wrong_language" in counts:
            entry["other_language"] = other_language
        manifest["corrupted"] = entry
        manifest["dest"] = str(dest)
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return entry


def _tensor(array):
    """A numpy token array as the tensor MMapIndexedDatasetBuilder.add_item takes (no copy)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array))


# ----------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------


def get_parser():
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.corrupt",
        description="Copy a prepared corpus with seeded fractions of its training pairs corrupted, one "
                    "flag per kind of noise (the pairs of different kinds are disjoint), recording which "
                    "pairs got which kind in DEST/corrupted.json. Without any kind flag, "
                    f"{DEFAULT_FRACTION:.0%} of the pairs are misaligned.")  # fmt: skip
    parser.add_argument("--src-dir", required=True, metavar="DIR",
                        help="a data_prep output (fairseq binaries + manifest.json)")
    parser.add_argument("--dest", required=True, metavar="DIR", help="the noisy copy (must not exist)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    parser.add_argument("--src", help="source language (default: from manifest.json)")
    parser.add_argument("--tgt", help="target language (default: from manifest.json)")
    g = parser.add_argument_group(
        "kinds of noise", "each F is a fraction of all the training pairs; the fractions add up to at most 1")
    g.add_argument("--misaligned", "--fraction", dest="misaligned", type=float, metavar="F",
                   help="targets shuffled among the chosen pairs, none keeping its own (--fraction is the "
                        f"old name) (default: {DEFAULT_FRACTION:g} when no kind is given, else 0)")
    g.add_argument("--near-miss", type=float, metavar="F",
                   help="each chosen pair takes the target of the pair with the most similar source "
                        "(TF-IDF cosine of source tokens) (default: 0)")
    g.add_argument("--misordered", type=float, metavar="F",
                   help="the target's words shuffled, end-of-sentence last; always a different order "
                        "(default: 0)")
    g.add_argument("--wrong-language", type=float, metavar="F",
                   help="the target replaced by a random line of an --other-language file, encoded with "
                        "the corpus's sentencepiece model and dictionary (default: 0)")
    g.add_argument("--other-language", nargs="+", metavar="FILE",
                   help="raw text files (plain or .gz) of other languages for --wrong-language and "
                        "--mixed, used in equal parts (default: none)")
    g.add_argument("--untranslated", type=float, metavar="F",
                   help="the target replaced by a copy of the source (needs a joined dictionary) "
                        "(default: 0)")
    g.add_argument("--untranslated-reverse", type=float, metavar="F",
                   help="the source replaced by a copy of the target (needs a joined dictionary) "
                        "(default: 0)")
    g.add_argument("--short", type=float, metavar="F",
                   help=f"both sides cut to their first k words, k from {SHORT_WORDS[0]}-{SHORT_WORDS[1]} per "
                        "pair (default: 0)")
    g.add_argument("--templated", type=float, metavar="F",
                   help=f"groups of {GROUP_SIZES[0]}-{GROUP_SIZES[1]} pairs, each member a copy of the group's "
                        "base pair (a random clean pair) with the words of each side reordered "
                        "(default: 0)")
    g.add_argument("--mixed", type=float, metavar="F",
                   help="all the kinds above in equal parts, F in total (wrong-language only with "
                        "--other-language; untranslated forward only, and only with a joined dictionary); "
                        "cannot be combined with the per-kind flags (default: 0)")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    kinds = {k: getattr(args, k) for k in KINDS if k != "misaligned"}
    try:
        entry = corrupt(args.src_dir, args.dest, seed=args.seed, src=args.src, tgt=args.tgt,
                        misaligned=args.misaligned, other_language=args.other_language, mixed=args.mixed,
                        **kinds)
    except CorruptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    detail = ", ".join(f"{k} {v['count']}" for k, v in entry["kinds"].items())
    print(f"{args.dest}: {entry['count']} of {entry['train_pairs']} training pairs corrupted ({detail}; "
          f"ids in {args.dest}/corrupted.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
