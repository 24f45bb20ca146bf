"""The report's numbers from the per-pair arrays (numpy only, no loop per pair)."""

import numpy as np

from fairseq_autoassist.assistant import roc_auc

def length_buckets(tgt_len, n=5):
    """Bucket index of each pair by target length (quantiles; fewer buckets for few lengths), and
    the buckets' (lowest, highest) lengths."""
    edges = np.unique(np.quantile(tgt_len, np.linspace(0, 1, n + 1)[1:-1]).astype(np.int64))
    bucket = np.searchsorted(edges, tgt_len, side="right")
    ranges = [(int(tgt_len[bucket == b].min()), int(tgt_len[bucket == b].max()))
              for b in range(len(edges) + 1) if (bucket == b).any()]
    return bucket, ranges


def by_length(p, n=5):
    """Per target-length bucket: pairs, mean Assistant score, share predicted hard, mean Boss loss,
    mean keep probability, and the AUC of the Assistant's score for "Boss loss above the split's
    mean" within the bucket (above 0.5: the score separates pairs of the same length)."""
    bucket, ranges = length_buckets(p["tgt_len"], n)
    hard = _hard_label(p["loss"])
    rows = []
    for b, (lo, hi) in enumerate(ranges):
        m = bucket == b
        rows.append({"tgt_len": f"{lo}-{hi}", "pairs": int(m.sum()),
                     "assistant_score": _mean(p["hard_prob"][m]),
                     "predicted_hard": _mean(p["hard_prob"][m] > 0.5),
                     "boss_loss": _mean(p["loss"][m]), "keep_prob": _mean(p["keep_prob"][m]),
                     "auc_within": _auc(p["hard_prob"][m], hard[m], p["loss"][m])})
    return rows


def selection_summary(p):
    """Is the Assistant more than a length filter? AUCs for "Boss loss above the split's mean"
    of its score, of the target length alone, and of its score within length buckets."""
    hard = _hard_label(p["loss"])
    rows = by_length(p)
    weights = np.array([r["pairs"] for r in rows], dtype=float)
    within = np.array([r["auc_within"] for r in rows], dtype=float)
    ok = np.isfinite(within)
    return {
        "hard_share": _mean(hard[np.isfinite(p["loss"])]),
        "auc_assistant": _auc(p["hard_prob"], hard, p["loss"]),
        "auc_target_length": _auc(p["tgt_len"].astype(float), hard, p["loss"]),
        "auc_assistant_within_length": float(np.average(within[ok], weights=weights[ok]))
        if ok.any() else float("nan"),
        "corr_score_target_length": _corr(p["hard_prob"], p["tgt_len"]),
    }


def top_features(assistant, tables, dictionaries, k=15):
    """The Assistant's *k* highest- and lowest-weighted tokens of each side (weights times IDF:
    what one token's share of a sentence adds to the logit of "hard"), among tokens in at least
    :func:`min_sentences` pairs (rarer tokens' weights say little about the corpus)."""
    from fairseq_autoassist.corpus import document_frequency

    out = {}
    for side, name in enumerate(("source", "target")):
        table, vocab = (tables.src, tables.tgt)[side], dictionaries[side]
        weight = assistant.w[side] * (1.0 if assistant.idf[side] is None else assistant.idf[side])
        df = document_frequency(table, len(vocab))
        present = np.flatnonzero(df >= min_sentences(len(table)))
        order = present[np.argsort(weight[present], kind="stable")]
        out[name] = {
            label: [{"token": vocab[int(t)], "weight": float(weight[t]), "sentences": int(df[t])}
                    for t in ids]
            for label, ids in (("hard", order[::-1][:k]), ("easy", order[:k]))}
    return out


def min_sentences(pairs):
    """The fewest pairs a token of :func:`top_features` is in: 0.1% of the pairs, at least 5."""
    return max(5, pairs // 1000)


def ranked(p, k):
    """Pair ids of the report's three lists: the *k* most trivial (lowest Boss loss), the *k*
    hardest learnable (highest Boss loss among pairs whose own source helps more than the
    median's), the *k* likeliest noise (highest noise score)."""
    loss = np.where(np.isfinite(p["loss"]), p["loss"], -np.inf)
    gain = p["other_loss"] - p["loss"]
    helped = np.isfinite(gain) & (gain > np.nanmedian(gain))
    return {
        "trivial": np.argsort(np.where(np.isfinite(p["loss"]), p["loss"], np.inf),
                              kind="stable")[:k],
        "hardest_learnable": np.argsort(-np.where(helped, loss, -np.inf), kind="stable")[:k],
        "likely_noise": np.argsort(-p["noise_score"], kind="stable")[:k],
    }


def epochs(records, assistant):
    """Per epoch: keep rate, kept tokens (the plan as trained) and the Assistant's accuracy and
    AUC (its records; the checkpoint's own epoch from the saved Assistant)."""
    table = {}
    for r in records:
        row = table.setdefault(int(r["epoch"]), {"epoch": int(r["epoch"])})
        if r["event"] == "complete":
            row.update(keep_rate=r["keep_rate"], kept_tokens=r["kept_tokens"])
        elif r["event"] == "assistant":
            row.update({k: float("nan") if r[k] is None else r[k]  # null: not known yet
                        for k in ("assistant_acc", "assistant_auc")})
    stats = assistant.epoch_stats()
    if assistant.epoch > 0 and stats["assistant_losses"] > 0:
        row = table.setdefault(int(assistant.epoch), {"epoch": int(assistant.epoch)})
        row.setdefault("assistant_acc", stats["assistant_acc"])
        row.setdefault("assistant_auc", stats["assistant_auc"])
    return [table[e] for e in sorted(table)]


def _hard_label(loss):
    return loss > np.nanmean(loss)


def _auc(score, label, loss):
    ok = np.isfinite(loss) & np.isfinite(score)
    if not ok.any():
        return float("nan")
    score = np.asarray(score, dtype=float)[ok]
    lo, hi = score.min(), score.max()
    scaled = (score - lo) / (hi - lo) if hi > lo else np.zeros(len(score))
    return roc_auc(scaled, label[ok])


def _mean(x):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")


def _corr(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])
