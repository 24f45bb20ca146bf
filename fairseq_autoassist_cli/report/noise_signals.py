"""The report's own noise signals and its noise score (numpy and scipy only, no loop per pair).

The data signals (copy, language, length ratio, duplicates) and their evidence rules are those of
the skip-noise rule (:mod:`fairseq_autoassist.noise`). The report adds what needs a Boss and the
whole corpus at once:

* the *source contrast*, two columns: ``contrast`` (against other sources of the pair's batch)
  and ``contrast_similar`` (against the source most like its own, :func:`similar_sources`): how
  little the pair's own source lowers the Boss's NLL (eval mode), beyond what pairs of its lengths
  get, as a robust z (:func:`source_contrast`). It is not the skip-noise rule's *rolled-source
  gain* (label-smoothed loss in training mode, sources rolled within the batch, in nats per
  token: :mod:`fairseq_autoassist.noise_rule`);
* ``trust``: how far the Boss is seen to use sources like the pair's (:func:`source_trust`);
* ``noise_score`` (:func:`noise_score`) and an opusfilter-style baseline, ``heuristic_flags``.
"""

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import lsqr

from fairseq_autoassist.noise import bags, evidence, robust_z

# nats per target token: a Boss whose own source lowers its NLL by this much against other
# sources is trusted (its source contrast counts in the noise score)
SOURCE_TRUST_GAIN = 1.0
SOURCE_CONTRASTS = ("contrast", "contrast_similar")
# the data signals whose whole range, not only its end, grades noise (robust z in the score)
GRADED_SIGNALS = ("language", "length_ratio", "duplicates")
GRADED_Z = 3.0  # robust standard deviations: the length-ratio evidence's fixed point
HEURISTIC_MAX_RATIO = 3.0  # the heuristic filter's length ratio limit (longer / shorter side)
HEURISTIC_MAX_COPY = 0.9  # ... and its limit on the share of target tokens found in the source


def tfidf(table, vocab_size, counts=None):
    """The L2-normalised TF-IDF bags of *table*'s sentences (CSR), and each token's document
    frequency; *counts*: its :func:`bags`, when already built."""
    x = bags(table, vocab_size) if counts is None else counts
    df = np.asarray((x > 0).sum(0)).ravel()
    x = (x @ sparse.diags(np.log((x.shape[0] + 1) / (df + 1)))).tocsr()
    norm = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    return (sparse.diags(1.0 / np.maximum(norm, 1e-12)) @ x).tocsr(), df


def similar_sources(table, source_tfidf, keys=4, window=16):
    """Per pair, the pair with the most similar source (TF-IDF cosine of *source_tfidf*, the
    :func:`tfidf` of the source *table*) among its candidates, or
    -1 where no candidate shares a token with it. Candidates, without a quadratic search: the
    *window* pairs on either side in the order of each of the source's *keys* rarest tokens (among
    tokens of two sources at least). A source with the same bag of tokens as its own is no
    alternative (it would explain the target as well as its own) and is passed over."""
    n = len(table)
    x, df = source_tfidf
    idf = np.log((n + 1) / (df + 1))
    tok, seg = table.gather(np.arange(n))
    tok = tok.astype(np.int64)
    keep = (tok >= 4) & (df[tok] >= 2)  # a token of no other source makes no neighbour
    tok, seg = tok[keep], seg[keep]
    order = np.lexsort((tok, -idf[tok], seg))  # per sentence, rarest first (ties by id)
    tok, seg = tok[order], seg[order]
    first = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]]) if len(seg) else np.zeros(0, int)
    ranked = np.full((keys, n), -1, dtype=np.int64)  # the r-th rarest token of each source
    for r in range(keys):
        at = first + r
        ok = at < np.r_[first[1:], len(seg)]
        ranked[r, seg[at[ok]]] = tok[at[ok]]
    best = np.full(n, -1, dtype=np.int64)
    best_sim = np.zeros(n)
    for r in range(keys):
        by_key = np.lexsort(tuple(ranked[::-1]) + (ranked[r],))
        by_key = by_key[ranked[r, by_key] >= 0]
        for d in range(1, min(window, len(by_key) - 1) + 1):
            a, b = by_key[:-d], by_key[d:]
            sim = np.asarray(x[a].multiply(x[b]).sum(1)).ravel()
            sim[sim > 1 - 1e-6] = 0.0  # the same bag of tokens
            for i, j in ((a, b), (b, a)):  # no pair repeats within i
                better = sim > best_sim[i]
                best_sim[i[better]] = sim[better]
                best[i[better]] = j[better]
    return best


def source_contrast(own, other, src_len, tgt_len):
    """How little the pair's own source helps the Boss (NLL *own* against *other*, another
    source's), beyond what pairs of its lengths get: minus the residual of ``other - own`` after a
    least-squares fit on log lengths, as a robust z-score (NaN where a loss is unknown)."""
    logs = np.log(np.maximum(src_len, 1))
    logt = np.log(np.maximum(tgt_len, 1))
    return -robust_z(residual(np.asarray(other) - np.asarray(own), logs, logt))


def source_trust(source_tfidf, gain, damp=1.0):
    """Per pair, how far the Boss is seen to use sources like this pair's: a ridge regression
    (scipy's lsqr) of the gain ``other - own`` (nats per target token) on the L2-normalised
    TF-IDF bag of the source (*source_tfidf*: :func:`tfidf`'s matrix), predicted for every pair,
    divided by :data:`SOURCE_TRUST_GAIN` and clipped to [0, 1]. A misaligned pair's source is an
    ordinary source and keeps its trust; pairs from a domain where the Boss barely uses its
    source lose it."""
    x = source_tfidf
    ok = np.isfinite(gain)
    if ok.sum() < 2:
        return np.zeros(len(gain))
    x = sparse.hstack([x, np.ones((x.shape[0], 1))]).tocsr()
    coef = lsqr(x[ok], np.asarray(gain)[ok], damp=damp)[0]
    return np.clip((x @ coef) / SOURCE_TRUST_GAIN, 0.0, 1.0)


def boss_weight(median_gain):
    """How far the Boss's source contrasts count in the noise score, from 0 to 1: the median
    gain of its own source (*median_gain*, nats per target token, on the clean valid pairs when
    there are any) over :data:`SOURCE_TRUST_GAIN`, clipped; 0 when unknown."""
    if median_gain is None or not np.isfinite(median_gain):
        return 0.0
    return float(np.clip(median_gain / SOURCE_TRUST_GAIN, 0.0, 1.0))


def score_parts(signals, weight):
    """The parts of the noise score per pair, by fixed rules, not fitted:

    * each data signal's :func:`fairseq_autoassist.noise.evidence` (the skip-noise rule's: about 5
      for a pair that plainly is the signal's kind of noise, 0 for none), which leaves most pairs
      at 0;
    * ``order``, what ranks the pairs beyond that: the Boss's order, the mean of the available
      source contrasts times the pair's ``trust``, and the data signals' order, how near the
      pair's graded data signals (:data:`GRADED_SIGNALS`) come to :data:`GRADED_Z` robust
      standard deviations (their largest robust z less :data:`GRADED_Z`, at most 0), mixed by
      the Boss's *weight* (:func:`boss_weight`). With a trusted Boss (weight 1) the contrasts
      order the pairs; with an untrusted one (weight 0) the score rests on the data signals
      alone: above 0 it is their evidence, the skip-noise rule's, below it ranks the pairs
      without evidence by the signal nearest to noise. ``copy`` is not graded: below half a
      target copied, the tokens a pair shares are names, numbers and cognates of good
      translations."""
    out = evidence(signals)
    n = len(next(iter(signals.values())))
    order = np.zeros(n)
    contrasts = [np.asarray(signals[k], dtype=np.float64) for k in SOURCE_CONTRASTS if k in signals]
    if weight > 0 and contrasts:
        stacked = np.stack(contrasts)
        known = np.isfinite(stacked).any(0)
        mean = np.nanmean(np.where(known, stacked, 0.0), axis=0)
        trust = np.asarray(signals.get("trust", np.ones(n)), dtype=np.float64)
        order += weight * np.nan_to_num(mean * trust, nan=0.0)
    else:
        weight = 0.0
    graded = [z for z in (robust_z(signals[k]) for k in GRADED_SIGNALS if k in signals)
              if np.isfinite(z).any()]
    if weight < 1 and graded:
        nearest = np.nan_to_num(np.fmax.reduce(graded), nan=0.0)
        order += (1.0 - weight) * np.minimum(nearest - GRADED_Z, 0.0)
    out["order"] = order
    return out


def noise_score(signals, weight):
    """The sum of :func:`score_parts` (*weight*: the Boss's, :func:`boss_weight`): higher is
    likelier noise."""
    return sum(score_parts(signals, weight).values())


def heuristic_flags(src_len, tgt_len, copy, src_language, tgt_language):
    """An opusfilter-style baseline, counted per pair (0-3): length ratio over
    :data:`HEURISTIC_MAX_RATIO`, a side whose likeliest language is not the expected one (a
    ``language_mismatch`` above 0), a target that is a near copy of its source (copy share over
    :data:`HEURISTIC_MAX_COPY`). Unknown signals count as passed."""
    s, t = np.asarray(src_len, dtype=float), np.asarray(tgt_len, dtype=float)
    ratio = np.maximum(s, t) / np.maximum(np.minimum(s, t), 1)
    with np.errstate(invalid="ignore"):
        language = (np.nan_to_num(src_language, nan=-1) > 0) | (np.nan_to_num(tgt_language, nan=-1) > 0)
        copied = np.nan_to_num(copy, nan=0) > HEURISTIC_MAX_COPY
    return (ratio > HEURISTIC_MAX_RATIO).astype(int) + language.astype(int) + copied.astype(int)


def residual(y, *predictors):
    """*y* minus its least-squares fit on an intercept and *predictors* (fit on the rows where
    everything is finite; NaN elsewhere)."""
    X = np.column_stack([np.ones(len(y)), *predictors])
    ok = np.isfinite(y) & np.isfinite(X).all(1)
    out = np.full(len(y), np.nan)
    if ok.sum() > X.shape[1]:
        coef = np.linalg.lstsq(X[ok], y[ok], rcond=None)[0]
        out[ok] = y[ok] - X[ok] @ coef
    return out
