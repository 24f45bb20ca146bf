"""The data signals of a parallel corpus that the ``skip-noise`` rule (:mod:`noise_rule`) flags
noise by, and their evidence: read from the corpus alone, no model. The data report
(``fairseq_autoassist_cli.report``) shows the same signals and adds its own, which need a Boss
(:mod:`fairseq_autoassist_cli.report.noise_signals`).

Each signal is oriented so that a higher value is likelier noise, and each separates some kinds of
noise that crawled corpora hold:

* ``copy``: the share of a pair's target tokens that occur in its source (joined dictionary only):
  untranslated pairs (a copy of the source, or the reverse) and many wrong-language pairs;
* ``language``: how much likelier another language is than the expected one, on the worse side
  (log-odds of a language-ID model that ships inside its package, ``py3langid``);
* ``length_ratio``: how far the log length ratio lies from the corpus's (robust z, both ways);
* ``duplicates``: log of the number of pairs with the same bag of tokens on a side (reordered
  templated near-duplicates collide; exact duplicates too).

:func:`evidence` turns each into evidence of noise beyond fixed points that mean noise (another
language likelier, more than half the target copied, a bag shared by more than two pairs, a
length ratio beyond 3 robust standard deviations). Nothing is fitted, on labels or otherwise.
"""

import logging
import math

import numpy as np
from scipy import sparse

logger = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826  # the median absolute deviation of a normal sample, in standard deviations
LANGID_PACKAGE = "py3langid"
COPY_SCALE = 10.0  # evidence per share of copied target tokens beyond half
DATA_SIGNALS = ("copy", "language", "length_ratio", "duplicates")


class NoiseError(Exception):
    """A signal cannot be computed as asked (e.g. its package is missing)."""


def robust_z(x):
    """(x - median) / (1.4826 * MAD) over the finite values; NaN stays NaN."""
    x = np.asarray(x, dtype=np.float64)
    finite = x[np.isfinite(x)]
    if len(finite) == 0:
        return np.full(len(x), np.nan)
    med = np.median(finite)
    mad = MAD_TO_SIGMA * np.median(np.abs(finite - med))
    return (x - med) / (mad if mad > 0 else (np.std(finite) or 1.0))


def bags(table, vocab_size, first_word=4):
    """A sentence x token count matrix (CSR) of *table*, without the special tokens (ids below
    *first_word*: fairseq's bos, pad, eos, unk)."""
    tok, seg = table.gather(np.arange(len(table)))
    keep = tok >= first_word
    m = sparse.csr_matrix((np.ones(int(keep.sum()), dtype=np.float64),
                           (seg[keep], tok[keep].astype(np.int64))),
                          shape=(len(table), vocab_size))
    m.sum_duplicates()
    return m


def copy_share(tables, vocab_size, source_bags=None):
    """Per pair, the share of its target's tokens (specials aside) that occur in its source;
    needs one dictionary for both sides (*source_bags*: the sources' :func:`bags`, when already
    built). NaN for an empty target."""
    src = (bags(tables.src, vocab_size) if source_bags is None else source_bags).copy()
    tgt = bags(tables.tgt, vocab_size)
    src.data[:] = 1.0
    found = np.asarray(tgt.multiply(src).sum(1)).ravel()
    total = np.asarray(tgt.sum(1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, found / np.maximum(total, 1), np.nan)


def length_ratio(src_len, tgt_len):
    """How far each pair's log length ratio lies from the corpus's, in robust standard deviations
    (either way)."""
    logs = np.log(np.maximum(np.asarray(src_len, dtype=np.float64), 1))
    logt = np.log(np.maximum(np.asarray(tgt_len, dtype=np.float64), 1))
    return np.abs(robust_z(logs - logt))


def duplicates(tables, vocab_size, seed=0):
    """Per pair, log of the number of pairs whose source, or whose target, holds the same bag
    (multiset) of tokens: a sum of random 64-bit token hashes per sentence, which reordering does
    not change. 0 for a pair alone on both sides."""
    hashes = np.random.default_rng(seed).integers(0, 2 ** 63, size=vocab_size, dtype=np.uint64)
    size = np.ones(len(tables), dtype=np.int64)
    for table in (tables.src, tables.tgt):
        tok, _ = table.gather(np.arange(len(table)))
        bag = np.zeros(len(table), dtype=np.uint64)
        nonempty = np.flatnonzero(table.sizes)
        starts = np.concatenate([[0], np.cumsum(table.sizes)[:-1]])[nonempty]
        if len(nonempty):  # sums wrap modulo 2**64
            bag[nonempty] = np.add.reduceat(hashes[tok.astype(np.int64)], starts)
        _, inverse, counts = np.unique(bag, return_inverse=True, return_counts=True)
        size = np.maximum(size, counts[inverse])
    return np.log(size.astype(np.float64))


def language_identifier():
    """py3langid's identifier (its model ships inside the package), with probabilities."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as e:
        raise NoiseError(f"the language signal needs the package {LANGID_PACKAGE}: "
                         f"pip install {LANGID_PACKAGE} (or turn the signal off) ({e})") from e
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_mismatch(texts, lang, identifier):
    """Per text, log P(likeliest other language) - log P(*lang*); NaN for all when the model does
    not know *lang* (the signal is then off)."""
    if lang not in identifier.nb_classes:
        logger.warning("language signal off for %r: the language-ID model does not know it", lang)
        return np.full(len(texts), np.nan)
    out = np.empty(len(texts))
    for i, text in enumerate(texts):
        ranked = identifier.rank(text)
        p = dict(ranked)[lang]
        best_other = ranked[1][1] if ranked[0][0] == lang else ranked[0][1]
        out[i] = math.log(max(best_other, 1e-300)) - math.log(max(p, 1e-300))
    return out


def texts(dataset, dictionaries, post_process):
    """Detokenized source and target text of every pair of a fairseq pair dataset."""
    ids = range(len(dataset))
    return ([dictionaries[0].string(dataset.src[i], post_process) for i in ids],
            [dictionaries[1].string(dataset.tgt[i], post_process) for i in ids])


def data_signals(tables, dataset, dictionaries, languages, post_process, language=True,
                 source_bags=None):
    """The signals read from the corpus alone, per pair: ``copy``, ``src_language``,
    ``tgt_language``, ``language`` (the worse side), ``length_ratio``, ``duplicates`` (NaN where
    a signal is off), and {signal: why it is off}. *languages*: the (source, target) ISO 639-1
    codes; *language*: False leaves the language-ID signal out (the caller says why);
    *source_bags*: :func:`bags` of the sources when the caller has them."""
    src_dict, tgt_dict = dictionaries
    n = len(tables)
    signals, off = {}, {}
    if src_dict.symbols == tgt_dict.symbols:
        signals["copy"] = copy_share(tables, len(tgt_dict), source_bags)
    else:
        signals["copy"] = np.full(n, np.nan)
        off["copy"] = "source and target have different dictionaries (no joined dictionary)"
    signals["src_language"] = signals["tgt_language"] = np.full(n, np.nan)
    if language:
        identifier = language_identifier()
        sides = texts(dataset, dictionaries, post_process)
        for side, text, lang in zip(("src", "tgt"), sides, languages):
            signals[f"{side}_language"] = language_mismatch(text, lang, identifier)
            if not np.isfinite(signals[f"{side}_language"]).any():
                off[f"language ({side})"] = f"the language-ID model does not know {lang!r}"
    signals["language"] = np.fmax(signals["src_language"], signals["tgt_language"])
    signals["length_ratio"] = length_ratio(tables.src.sizes, tables.tgt.sizes)
    signals["duplicates"] = duplicates(tables, len(tgt_dict))
    return signals, off


def evidence(signals):
    """Each data signal of *signals* (those of :data:`DATA_SIGNALS` it holds) as evidence of
    noise, in comparable units (about 5 for a pair that plainly is the signal's kind of noise, 0
    for none), by fixed rules, not fitted:

    * ``language``: the log-odds by which another language beats the expected one, when it does;
    * ``copy``: :data:`COPY_SCALE` x the share of target tokens found in the source beyond 0.5
      (a full copy: 5);
    * ``duplicates``: 2 x log(pairs sharing the bag / 2), from 2 pairs on (20 pairs: 4.6);
    * ``length_ratio``: robust standard deviations beyond 3.

    NaN values add 0."""
    rules = {"language": lambda x: np.maximum(x, 0.0),
             "copy": lambda x: COPY_SCALE * np.maximum(x - 0.5, 0.0),
             "duplicates": lambda x: 2.0 * np.maximum(x - math.log(2), 0.0),
             "length_ratio": lambda x: np.maximum(x - 3.0, 0.0)}
    out = {}
    for name, rule in rules.items():
        if name in signals:
            with np.errstate(invalid="ignore"):
                out[name] = np.nan_to_num(rule(np.asarray(signals[name], dtype=np.float64)), nan=0.0)
    return out
