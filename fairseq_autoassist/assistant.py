"""The Assistant: a light logistic regression that learns online which sentence pairs the Boss (the
NMT model) still finds hard (Zhang, Yu & Dhillon, "AutoAssist", NeurIPS 2019, Sec. 3).

Model (the paper's NMT Assistant, as in the reference implementation)::

    P(hard | x, y) = sigmoid(b + c_x * |x| / mean|x| + c_y * |y| / mean|y|
                             + sum_t W_x[t] * f_x(t) + sum_t U_y[t] * f_y(t))

with bag-of-words features ``f(t) = count(t) / len`` or TF-IDF features
``f(t) = count(t) / len * idf(t)`` over the fairseq dictionaries. A pair is labelled hard (1) when
its label-smoothed training loss per target token is above the running mean loss (``--assistant-mean``:
``ema``, an EMA of the Boss's batch means throughout, by default; or ``prev-epoch``, the reference
implementation's EMA during the warm-up epochs, then the mean of the previous epoch). One online
step per Boss batch on the losses the Boss has just computed: SGD on the L2-regularised logistic
loss with AdaGrad's per-coordinate step sizes, so that rare tokens learn too. ``confidence`` is an
EMA (0.95) of the Assistant's accuracy on each batch before it learns from it, starting at 0.

Features are computed from token ids on the fly (gather + segment sums), never stored per pair.
With *track_pairs* (the ``infobatch`` rule with ``--assistant-scorer last-loss``, and ``skip-hard``)
it also keeps, per pair, the last per-token loss seen and how many observations in a row put it in
the top *hard_fraction* of its batch (:mod:`rules` reads them).
"""

import math

import numpy as np
import torch

from .corpus import corpus_statistics
from .ranks import checksum

CONFIDENCE_DECAY = 0.95  # paper: confidence = EMA of the Assistant's training accuracy
PLAN_CHUNK = 1 << 16  # pairs scored at once while planning


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


AUC_BINS = 1024  # the AUC of an epoch's predictions is computed from score histograms


def score_histograms(scores, labels):
    """Counts of *scores* in [0, 1] per bin: row 0 for negative *labels*, row 1 for positive."""
    labels = np.asarray(labels, dtype=bool)
    bins = np.minimum((np.asarray(scores) * AUC_BINS).astype(np.int64), AUC_BINS - 1)
    return np.stack([np.bincount(bins[~labels], minlength=AUC_BINS),
                     np.bincount(bins[labels], minlength=AUC_BINS)])


def histogram_auc(hist):
    """Area under the ROC curve from :func:`score_histograms` (Mann-Whitney U; scores in one bin
    count as ties), NaN when only one class is present."""
    neg, pos = hist
    npos, nneg = int(pos.sum()), int(neg.sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    below = np.cumsum(neg) - neg  # negatives in lower bins
    return float((pos * below).sum() + 0.5 * (pos * neg).sum()) / (npos * nneg)


def roc_auc(scores, labels):
    return histogram_auc(score_histograms(scores, labels))


class Assistant:
    """Online logistic regression over sparse source/target features.

    Not thread-safe: :class:`autoassist.AutoAssist` serialises learning, planning and reporting.
    """

    def __init__(self, tables, src_vocab, tgt_vocab, features="tfidf", lr=0.5, l2=1e-4,
                 warmup_epochs=1, mean="ema", mean_decay=0.9, frozen=False, track_pairs=False,
                 hard_fraction=0.2, corpus=None):
        self.features = features
        self.frozen = frozen  # predicts and reports, never updates (--assistant-freeze)
        self.mean = mean
        self.mean_decay = mean_decay
        self.lr = lr
        self.l2 = l2
        self.warmup_epochs = warmup_epochs
        # the corpus statistics of the features: of every shard of sharded data
        self.mean_len, self.idf = corpus_statistics(corpus or [tables], src_vocab, tgt_vocab,
                                                    features == "tfidf")
        self.w = [np.zeros(src_vocab), np.zeros(tgt_vocab)]  # token weights W_x, U_y
        self.scalars = np.zeros(3)  # the bias b and the length weights c_x, c_y
        self.g2 = [np.zeros(src_vocab), np.zeros(tgt_vocab)]  # AdaGrad accumulators
        self.g2_scalars = np.zeros(3)
        self.confidence = 0.0
        self.loss_mean = float("nan")  # threshold between easy (0) and hard (1)
        self.prev_epoch_mean = float("nan")
        self.updates = 0
        self.epoch = 0
        self.hard_fraction = hard_fraction
        n_tracked = len(tables) if track_pairs else 0
        self.last_loss = np.full(n_tracked, np.nan, dtype=np.float32)  # per target token
        self.hard_streak = np.zeros(n_tracked, dtype=np.uint8)
        self._new_epoch_stats(len(tables))

    def new_corpus(self, n_pairs):
        """Another corpus of *n_pairs* pairs (the next shard of sharded data): the pairs' tracked
        losses start again, unseen."""
        if len(self.last_loss):
            self.last_loss = np.full(n_pairs, np.nan, dtype=np.float32)
            self.hard_streak = np.zeros(n_pairs, dtype=np.uint8)

    # ---------------------------------------------------------------- features
    def _side(self, k, table, ids):
        """Per-token feature values of side *k* (0 source, 1 target) for pairs *ids*."""
        tok, seg = table.gather(ids)
        lengths = table.sizes[ids]
        val = 1.0 / lengths[seg]
        if self.idf[k] is not None:
            val = val * self.idf[k][tok]
        return tok, seg, val, lengths / self.mean_len[k]

    def logits(self, tables, ids):
        """The logits of pairs *ids* as the learning path computes them, and their features."""
        sides = [self._side(k, t, ids) for k, t in enumerate((tables.src, tables.tgt))]
        z = np.full(len(ids), self.scalars[0])
        for k, (tok, seg, val, rel_len) in enumerate(sides):
            z += np.bincount(seg, weights=self.w[k][tok] * val, minlength=len(ids))
            z += self.scalars[1 + k] * rel_len
        return z, sides

    # ---------------------------------------------------------------- planning
    def hard_prob(self, tables, ids):
        """The Assistant's probability that each pair in *ids* is hard (worth training on).

        Same value as the learning path's logits, computed with fewer passes over the tokens: the
        IDF weights are folded into the weight vector and the 1/length factor applied per pair;
        when *ids* are a quarter of the corpus or more, every pair is scored straight from the token arrays
        (no gather) and the ones asked for are picked.
        """
        ids = np.asarray(ids, dtype=np.int64)
        weights = [w if idf is None else w * idf for w, idf in zip(self.w, self.idf)]
        sides = (tables.src, tables.tgt)
        if 4 * len(ids) >= len(tables) and all(t.in_order for t in sides):
            z = np.empty(len(tables))
            for lo in range(0, len(tables), PLAN_CHUNK):
                hi = min(lo + PLAN_CHUNK, len(tables))
                z[lo:hi] = self._plan_logits(
                    sides, np.arange(lo, hi),
                    [t.sums_in_order(w, lo, hi) for t, w in zip(sides, weights)])
            return _sigmoid(z[ids])
        out = np.empty(len(ids))
        for lo in range(0, len(ids), PLAN_CHUNK):
            part = ids[lo:lo + PLAN_CHUNK]
            sums = []
            for t, w in zip(sides, weights):
                tok, seg = t.gather(part)
                sums.append(np.bincount(seg, weights=w[tok], minlength=len(part)))
            out[lo:lo + PLAN_CHUNK] = _sigmoid(self._plan_logits(sides, part, sums))
        return out

    def _plan_logits(self, sides, ids, sums):
        z = np.full(len(ids), self.scalars[0])
        for k, (table, s) in enumerate(zip(sides, sums)):
            lengths = table.sizes[ids]
            z += s / np.maximum(lengths, 1)
            z += (self.scalars[1 + k] / self.mean_len[k]) * lengths
        return z

    # ---------------------------------------------------------------- learning
    def _new_epoch_stats(self, n_pairs):
        self.epoch_loss_sum = 0.0
        self.epoch_count = 0
        self.epoch_correct = 0
        self.epoch_received = 0  # losses handed over this epoch, repeats included
        self.epoch_nonfinite = 0  # of them, not finite (never learned from)
        self.seen = np.zeros(n_pairs, dtype=bool)  # pairs learned from (a retried step repeats)
        self.auc_hist = np.zeros((2, AUC_BINS), dtype=np.int64)

    def begin_epoch(self, epoch, n_pairs):
        """Close the epoch being collected and start *epoch* (idempotent for the same epoch)."""
        if epoch == self.epoch:
            return
        if self.epoch_count > 0 and not self.frozen:
            self.prev_epoch_mean = self.epoch_loss_sum / self.epoch_count
            if self.mean == "prev-epoch" and epoch > self.warmup_epochs:
                self.loss_mean = self.prev_epoch_mean
        self.epoch = epoch
        self._new_epoch_stats(n_pairs)

    def _mean_is_ema(self):
        return (self.mean == "ema" or self.epoch <= self.warmup_epochs
                or math.isnan(self.prev_epoch_mean))

    def learn(self, tables, ids, losses, ntokens):
        """One online step on the Boss's per-sentence summed losses of pairs *ids*.

        Non-finite losses and pairs already seen in this epoch (a retried step) are ignored. A
        frozen Assistant (weights, confidence and mean loss) only records its predictions (accuracy,
        AUC).
        """
        ids = np.asarray(ids, dtype=np.int64)
        losses = np.asarray(losses, dtype=np.float64)
        ntokens = np.asarray(ntokens, dtype=np.float64)
        self.epoch_received += len(ids)
        self.epoch_nonfinite += int((~np.isfinite(losses)).sum())
        ok = np.isfinite(losses) & (ntokens > 0) & ~self.seen[ids]
        ids, per_tok = ids[ok], losses[ok] / ntokens[ok]
        n = len(ids)
        if n == 0:
            return
        self.seen[ids] = True
        if self._mean_is_ema() and not self.frozen:
            m = float(per_tok.mean())
            self.loss_mean = m if math.isnan(self.loss_mean) else (
                self.mean_decay * self.loss_mean + (1.0 - self.mean_decay) * m)
        label = per_tok > self.loss_mean
        z, sides = self.logits(tables, ids)
        p = _sigmoid(z)
        correct = int(((p > 0.5) == label).sum())
        self.auc_hist += score_histograms(p, label)
        self.epoch_correct += correct
        self.epoch_loss_sum += float(per_tok.sum())
        self.epoch_count += n
        if self.frozen:
            return
        if len(self.last_loss):
            self._track(ids, per_tok)
        self.confidence = CONFIDENCE_DECAY * self.confidence + (1 - CONFIDENCE_DECAY) * correct / n
        # AdaGrad step (per-coordinate SGD step sizes: rare tokens learn as fast as common
        # ones) on the summed logistic loss + l2/2 * ||weights||^2 (bias unregularised)
        g = p - label
        for k, (tok, seg, val, _) in enumerate(sides):
            grad = np.bincount(tok, weights=g[seg] * val, minlength=len(self.w[k]))
            grad += self.l2 * self.w[k]
            self.g2[k] += grad * grad
            self.w[k] -= self.lr * grad / (np.sqrt(self.g2[k]) + 1e-12)
        grad = np.array([g.sum(), g @ sides[0][3], g @ sides[1][3]])
        grad[1:] += self.l2 * self.scalars[1:]
        self.g2_scalars += grad * grad
        self.scalars -= self.lr * grad / (np.sqrt(self.g2_scalars) + 1e-12)
        self.updates += 1

    def _track(self, ids, per_tok):
        """Each pair's last loss, and its streak of observations in its batch's top fraction."""
        self.last_loss[ids] = per_tok
        hot = per_tok > np.quantile(per_tok, 1.0 - self.hard_fraction)
        self.hard_streak[ids] = np.where(hot, np.minimum(self.hard_streak[ids], 254) + 1, 0)

    def learned_by_last_loss(self, ids):
        """Pairs whose last seen per-token loss is below the running mean (never seen: False)."""
        last = self.last_loss[ids]
        return np.isfinite(last) & (last < self.loss_mean)

    def hard_streaks(self, ids):
        """Observations in a row in which each pair's loss was in its batch's top fraction."""
        return self.hard_streak[ids].copy()

    # ---------------------------------------------------------------- reporting
    def epoch_stats(self):
        """Accuracy and AUC of the Assistant's predictions (made before each update) this epoch."""
        n = self.epoch_count
        positives = int(self.auc_hist[1].sum())
        return {
            "assistant_acc": self.epoch_correct / n if n else float("nan"),
            "assistant_auc": histogram_auc(self.auc_hist),
            "assistant_pos_rate": positives / n if n else float("nan"),
            "assistant_conf": float(self.confidence),
            "assistant_loss_mean": float(self.loss_mean),
            "assistant_losses": self.epoch_received,
            "assistant_nonfinite": self.epoch_nonfinite,
        }

    def checksum(self):
        """CRC-32 of everything that decides the Assistant's predictions and updates (equal on
        all ranks of a distributed run)."""
        return checksum(*self.w, *self.g2, self.scalars, self.g2_scalars, self.confidence,
                        self.loss_mean, self.prev_epoch_mean, self.updates, self.epoch,
                        self.last_loss, self.hard_streak)

    # ---------------------------------------------------------------- checkpoint
    def state_dict(self):
        """Torch tensors and Python numbers only (loadable with ``torch.load(weights_only=True)``)."""
        return {k: _saved(getattr(self, k)) for k in MODEL_STATE + PAIR_STATE + EPOCH_STATE}

    def load_state_dict(self, state, model_only=False):
        """Restore :meth:`state_dict`; with *model_only* the weights and running statistics only
        (``--assistant-init``: start from another run's Assistant), not its epoch's records."""
        try:
            sizes = [len(w) for w in state["w"]]
            if sizes != [len(w) for w in self.w]:
                raise ValueError(f"the saved Assistant has vocabularies of {sizes[0]} and "
                                 f"{sizes[1]} tokens, this data {len(self.w[0])} and {len(self.w[1])}")
            names = MODEL_STATE + (() if model_only else EPOCH_STATE)
            if len(self.last_loss) and len(state["last_loss"]) == len(self.last_loss):
                names += PAIR_STATE  # tracked pairs, the same corpus
            for k in names:
                setattr(self, k, _loaded(state[k], getattr(self, k)))
        except (KeyError, TypeError) as e:
            raise ValueError(f"not an Assistant state of this version ("
                             f"{'no field ' + str(e) if isinstance(e, KeyError) else e})") from e


# what a checkpoint holds: the model and running statistics, the per-pair tracking, the epoch's
MODEL_STATE = ("w", "g2", "scalars", "g2_scalars", "confidence", "loss_mean", "prev_epoch_mean")
PAIR_STATE = ("last_loss", "hard_streak")
EPOCH_STATE = ("updates", "epoch", "epoch_loss_sum", "epoch_count", "epoch_correct",
               "epoch_received", "epoch_nonfinite", "seen", "auc_hist")


def _saved(value):
    if isinstance(value, list):
        return [_saved(v) for v in value]
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def _loaded(saved, like):
    """*saved* (from :func:`_saved`) as the type of the attribute *like* it restores."""
    if isinstance(like, list):
        return [_loaded(s, v) for s, v in zip(saved, like)]
    if isinstance(like, np.ndarray):
        return saved.numpy().astype(like.dtype)
    return type(like)(saved)

