"""Each training pair's loss over the epochs: the Boss's training dynamics, as dataset cartography
reads them (Swayamdipta et al., 2020: pairs that stay hard epoch after epoch are often mislabelled;
Arpit et al., 2017: noise is fitted late, after the patterns).

``--assistant-loss-history`` keeps, per pair, running figures of the per-token training loss the
criterion computed when the pair was trained, at most once per epoch (a retried step or a pair
trained twice in an epoch counts once): the epochs it was seen in, its first and last loss, the
sum and sum of squares of its losses, and the sum of its *relative* loss (its loss over the mean
loss of the pairs of its batch, which takes out the fall of every loss over training). 26 bytes
per pair, in the checkpoint. :class:`autoassist.AutoAssist` feeds it the losses every rank
exchanged, in the same order as the Assistant, so every rank holds the same history; its
checksum joins the Assistant's. The data report turns it into per-pair columns
(:meth:`LossHistory.figures`).
"""

import numpy as np
import torch

from .ranks import checksum

# what a checkpoint holds (arrays of one value per pair)
FIELDS = ("epochs", "last_epoch", "first", "last", "total", "total_sq", "relative")
# the figures of :meth:`LossHistory.figures`
FIGURES = ("epochs_seen", "loss_mean", "loss_spread", "loss_drop", "relative_loss")


class LossHistory:
    """Running figures of every pair's per-token training loss over the epochs."""

    def __init__(self, n_pairs):
        self.epochs = np.zeros(n_pairs, dtype=np.uint16)  # epochs the pair was seen in
        self.last_epoch = np.zeros(n_pairs, dtype=np.uint16)  # the last of them (0: never)
        self.first = np.full(n_pairs, np.nan, dtype=np.float32)
        self.last = np.full(n_pairs, np.nan, dtype=np.float32)
        self.total = np.zeros(n_pairs, dtype=np.float32)
        self.total_sq = np.zeros(n_pairs, dtype=np.float32)
        self.relative = np.zeros(n_pairs, dtype=np.float32)

    def __len__(self):
        return len(self.epochs)

    def observe(self, epoch, ids, per_token):
        """One batch of epoch *epoch*: pairs *ids* (distinct: a plan holds a pair at most once)
        and their per-token losses. Pairs already seen in *epoch* and non-finite losses are left
        out."""
        ids = np.asarray(ids, dtype=np.int64)
        per_token = np.asarray(per_token, dtype=np.float64)
        ok = np.isfinite(per_token)
        ok[ok] = per_token[ok] >= 0
        if not ok.any():
            return
        batch_mean = per_token[ok].mean()
        ok &= self.last_epoch[ids] != epoch  # a retried step, a resumed epoch
        ids, loss = ids[ok], per_token[ok]
        if not len(ids):
            return
        new = self.epochs[ids] == 0
        self.first[ids[new]] = loss[new]
        self.last[ids] = loss
        self.epochs[ids] = np.minimum(self.epochs[ids].astype(np.int64) + 1, 65535)
        self.last_epoch[ids] = epoch
        self.total[ids] += loss
        self.total_sq[ids] += loss * loss
        self.relative[ids] += loss / batch_mean if batch_mean > 0 else 1.0

    def figures(self):
        """Per pair (NaN where never seen): ``epochs_seen``; ``loss_mean`` and ``loss_spread``
        (mean and standard deviation of its per-token loss over the epochs it was seen in);
        ``loss_drop`` (first minus last loss, over the first); ``relative_loss`` (its mean loss
        over its batch's mean loss)."""
        seen = self.epochs.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(seen > 0, self.total / seen, np.nan)
            square = np.where(seen > 0, self.total_sq / seen, np.nan)
            spread = np.sqrt(np.maximum(square - mean ** 2, 0))
            drop = (self.first.astype(np.float64) - self.last) / self.first
            relative = np.where(seen > 0, self.relative / seen, np.nan)
        return {"epochs_seen": seen, "loss_mean": mean, "loss_spread": spread,
                "loss_drop": np.where(seen > 1, drop, np.nan), "relative_loss": relative}

    def checksum(self):
        return checksum(*(getattr(self, k) for k in FIELDS))

    def state_dict(self):
        """Torch tensors only (loadable with ``torch.load(weights_only=True)``); counts as int32,
        which fairseq's broadcast of a resumed checkpoint to the other ranks can send (gloo has
        no uint16)."""
        return {k: torch.from_numpy(_sendable(getattr(self, k))) for k in FIELDS}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict` (ValueError if it is of another corpus or version)."""
        try:
            arrays = {k: state[k].numpy() for k in FIELDS}
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a loss history of this version ("
                             f"{'no field ' + str(e) if isinstance(e, KeyError) else e})") from e
        sizes = {len(a) for a in arrays.values()}
        if sizes != {len(self)}:
            raise ValueError(f"a loss history of {sorted(sizes)} pairs, the corpus has {len(self)}")
        for k, a in arrays.items():
            setattr(self, k, a.astype(getattr(self, k).dtype))


def _sendable(array):
    return array.astype(np.int32) if array.dtype == np.uint16 else array.copy()
