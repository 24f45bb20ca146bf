"""The report's noise signals of every pair from the corpus (:mod:`fairseq_autoassist.noise`) and
the Boss's losses (:mod:`.noise_signals`), their combination into one noise score, and how far the
Boss can be trusted."""

import logging

import numpy as np

from fairseq_autoassist import history, noise

from . import noise_signals

logger = logging.getLogger("fairseq_autoassist.report")


def source_features(run):
    """``(bags, tfidf)`` of the reported split's sources (:func:`noise.bags`,
    :func:`noise_signals.tfidf`), built once for every signal that needs them."""
    counts = noise.bags(run.tables.src, len(run.task.src_dict))
    return counts, noise_signals.tfidf(run.tables.src, len(run.task.src_dict), counts)


def compute(run, losses, valid_losses, languages, post_process, language_signal=True,
            sources=None):
    """``(columns, summary)``: per-pair arrays (every signal, ``trust``, ``noise_score``,
    ``heuristic_flags``) and what the report says of them (signals off and why, the Boss's
    gain on valid and training pairs, a warning when the Boss does not use its source).

    *losses*: ``(own, other, similar)`` of the reported split; *valid_losses*: ``(own, other)``
    of the clean valid split, or None; *languages*: (source, target) language codes; *sources*:
    :func:`source_features` (built here when not given)."""
    tables, ds = run.tables, run.dataset
    counts, (source_tfidf, _) = source_features(run) if sources is None else sources
    src_dict, tgt_dict = run.task.src_dict, run.task.tgt_dict
    own, other, similar = losses
    src_len, tgt_len = tables.src.sizes, tables.tgt.sizes
    cols, off = noise.data_signals(tables, ds, (src_dict, tgt_dict), languages, post_process,
                                   language_signal, counts)
    if not language_signal:
        off["language"] = "turned off (--no-language-signal)"
    cols["contrast"] = noise_signals.source_contrast(own, other, src_len, tgt_len)
    cols["contrast_similar"] = noise_signals.source_contrast(own, similar, src_len, tgt_len)
    cols["trust"] = noise_signals.source_trust(source_tfidf, other - own)
    if run.history is not None:
        cols.update(run.history.figures())
    else:
        cols.update({name: np.full(len(tables), np.nan) for name in history.FIGURES})
        off["loss history"] = (
            "the run kept none (train with --assistant-loss-history)" if run.is_train
            else "the reported split is not the one the run trained on")
    summary = {"signals_off": off, "trust_gain": noise_signals.SOURCE_TRUST_GAIN,
               "gain_train_median": _median(other - own),
               "gain_valid_median": None if valid_losses is None
               else _median(valid_losses[1] - valid_losses[0]),
               "trust_mean": _mean(cols["trust"]),
               "trusted_share": float(np.mean(cols["trust"] >= 0.5))}
    gain = summary["gain_valid_median"]
    gain = summary["gain_train_median"] if gain is None else gain
    summary["boss_weight"] = noise_signals.boss_weight(gain)
    cols["noise_score"] = noise_signals.noise_score(
        {name: cols[name] for name in noise.DATA_SIGNALS + noise_signals.SOURCE_CONTRASTS
         + ("trust",)}, summary["boss_weight"])
    cols["heuristic_flags"] = noise_signals.heuristic_flags(
        src_len, tgt_len, cols["copy"], cols["src_language"], cols["tgt_language"])
    if summary["boss_weight"] < 1:
        summary["warning"] = (
            f"the Boss barely uses its source yet (its own source lowers its loss by a median "
            f"{gain:.2f} nats per target token, under {noise_signals.SOURCE_TRUST_GAIN:.1f}): "
            f"its source contrasts count {summary['boss_weight']:.0%} in the noise score, the "
            "data signals the rest; train longer for a ranking that sees misaligned pairs")
        logger.warning("noise score: %s", summary["warning"])
    return cols, summary


def _finite(x):
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


def _median(x):
    """The median of the finite values of *x*; None when there are none."""
    x = _finite(x)
    return float(np.median(x)) if len(x) else None


def _mean(x):
    """The mean of the finite values of *x*; None when there are none."""
    x = _finite(x)
    return float(x.mean()) if len(x) else None
