"""``--assistant-rule swiftlearn`` (Hajimolahoseini et al., 2023, "SwiftLearn", arXiv 2311.15134):
after the warm-up, the Boss itself measures every training pair's importance, and the run trains
on the most important share of the pairs until the next measurement.

* **Importance** of a pair: the Boss's per-token loss on it (the criterion's label-smoothed loss,
  fairseq's ``label_smoothed_nll_loss``, summed over the target and divided by its tokens), from
  forward passes without backward over every training pair, in evaluation mode (no dropout: the
  same model gives the same importance, on every rank and after a resume). A pair the Boss
  still gets wrong is important; one it has learned is not.
* **When**: at the start of the first epoch after the warm-up (``--assistant-warmup-epochs``;
  with 0, before the first epoch: the parent's importance when fine-tuning), then every
  ``--assistant-swiftlearn-interval`` epochs (0: only once). The rank's share of the corpus's
  batches (fairseq's token buckets, batches ``rank, rank + ranks, ...``) is measured by each rank
  and the ranks exchange the losses (the fixed-size exchange of :mod:`ranks`), so every rank
  selects the same pairs.
* **Selection**: the ``--assistant-swiftlearn-keep`` share of the training pairs with the
  highest importance (ties: the lower pair id first) is kept with weight 1, every other pair is
  dropped until the next measurement, where a dropped pair whose importance has risen into the
  top share comes back.
* **Cost**: the measured target tokens are counted (``swiftlearn_forward_tokens`` in the epoch
  line, all ranks): a forward pass without backward costs about a third of a training step.

The random control (``--assistant-scorer random``) measures nothing and keeps random pairs at the
rates of ``--assistant-keep-rates``. docs/usage.md says where this departs from the paper.
"""

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from fairseq import utils
from fairseq.dataclass import FairseqDataclass

from .noise_rule import sentence_losses
from .ranks import Ranks, checksum, unpack

logger = logging.getLogger(__name__)


@dataclass
class SwiftLearnConfig(FairseqDataclass):
    """The flags of ``--assistant-rule swiftlearn`` (mixed into the task's config)."""

    assistant_swiftlearn_keep: float = field(default=0.5, metadata={"help": (
        "swiftlearn: share of the training pairs kept after the warm-up: those the Boss finds "
        "most important (highest per-token loss in a forward pass without backward over every "
        "pair)")})
    assistant_swiftlearn_interval: int = field(default=2, metadata={"help": (
        "swiftlearn: epochs between two measurements of every pair's importance (the first at "
        "the start of the first epoch after the warm-up); a dropped pair whose importance rose "
        "comes back; 0 = measure once")})


class Importance:
    """Every pair's importance (its per-token loss at the last measurement) and the pairs kept
    until the next one; state in checkpoints, the same on every rank."""

    def __init__(self, n_pairs, keep, interval, warmup_epochs):
        self.keep = keep
        self.interval = interval
        self.warmup_epochs = warmup_epochs
        self.loss = np.full(n_pairs, np.nan, dtype=np.float32)
        self.kept = np.ones(n_pairs, dtype=bool)  # every pair until the first measurement
        self.measured_epoch = 0  # the epoch whose start measured last (0: never)
        self.returned = 0  # pairs kept now that the measurement before dropped
        self.epoch = 0
        self.forward_tokens = 0  # target tokens of the measurements, all ranks, whole run
        self.epoch_forward_tokens = 0

    def __len__(self):
        return len(self.loss)

    def due(self, epoch):
        """Whether *epoch*'s start measures every pair's importance."""
        first = self.warmup_epochs + 1  # the first epoch after the warm-up
        if epoch < first or epoch == self.measured_epoch:
            return False
        return epoch == first or (self.interval > 0 and (epoch - first) % self.interval == 0)

    def begin_epoch(self, epoch, measure):
        """*epoch* is planned: measure every pair with *measure* (a function giving the
        (ids, summed losses, target tokens) of every pair, all ranks') when it is due, and select
        the pairs the epochs until the next measurement keep."""
        if epoch != self.epoch:
            self.epoch, self.epoch_forward_tokens = epoch, 0
        if not self.due(epoch):
            return
        start = time.perf_counter()
        ids, losses, ntokens = measure()
        self.learn(ids, losses, ntokens)
        self.measured_epoch = epoch
        self.select()
        logger.info("AutoAssist swiftlearn epoch %d: importance of %d pairs measured (%d target "
                    "tokens, forward only) in %.1f s: keeps %d (%.3f), %d of them dropped before",
                    epoch, len(ids), int(np.sum(ntokens)), time.perf_counter() - start,
                    int(self.kept.sum()), self.kept.mean(), self.returned)

    def learn(self, ids, losses, ntokens):
        """Measured summed losses of pairs *ids* over their *ntokens* target tokens."""
        ids = np.asarray(ids, dtype=np.int64)
        ntokens = np.asarray(ntokens, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.loss[ids] = np.asarray(losses, dtype=np.float64) / ntokens
        tokens = int(ntokens.sum())
        self.forward_tokens += tokens
        self.epoch_forward_tokens += tokens

    def select(self):
        """Keep the top share by importance (a pair never measured, or with a non-finite loss,
        counts as least important; ties: lower id first)."""
        n = len(self)
        score = np.where(np.isfinite(self.loss), self.loss, -np.inf)
        order = np.lexsort((np.arange(n), -score))  # highest first, then by id
        kept = np.zeros(n, dtype=bool)
        kept[order[:int(math.ceil(self.keep * n))]] = True
        self.returned = int((kept & ~self.kept).sum())  # 0 at the first: every pair was kept
        self.kept = kept

    def keep_prob(self, ids):
        """1 for a kept pair of *ids*, 0 for a dropped one."""
        return self.kept[np.asarray(ids, dtype=np.int64)].astype(np.float64)

    def stats(self):
        """The epoch line's figures: this epoch's measured target tokens, the pairs that came
        back at the last measurement."""
        return {"swiftlearn_forward_tokens": self.epoch_forward_tokens,
                "swiftlearn_returned": self.returned}

    def checksum(self):
        return checksum(self.loss, self.kept, self.measured_epoch, self.forward_tokens)

    def state_dict(self):
        return {"loss": torch.from_numpy(self.loss.copy()),
                "kept": torch.from_numpy(self.kept.copy()),
                "measured_epoch": self.measured_epoch, "returned": self.returned,
                "epoch": self.epoch, "forward_tokens": self.forward_tokens,
                "epoch_forward_tokens": self.epoch_forward_tokens}

    def load_state_dict(self, state):
        loss = state["loss"].numpy()
        if len(loss) != len(self):
            raise ValueError(f"swiftlearn state of {len(loss)} pairs, the corpus has {len(self)}")
        self.loss = loss.astype(np.float32)
        self.kept = state["kept"].numpy().astype(bool)
        for key in ("measured_epoch", "returned", "epoch", "forward_tokens",
                    "epoch_forward_tokens"):
            setattr(self, key, int(state[key]))


def watch_importance(cfg, n_pairs):
    """The :class:`Importance` of the task config *cfg*."""
    return Importance(n_pairs, cfg.assistant_swiftlearn_keep, cfg.assistant_swiftlearn_interval,
                      cfg.assistant_warmup_epochs)


# the epoch train line's figures (name, digits), with --assistant-rule swiftlearn
SWIFTLEARN_METRICS = (("swiftlearn_forward_tokens", 0), ("swiftlearn_returned", 0))


def measure(boss, dataset, batcher, epoch, ranks):
    """Every training pair of *dataset* through the Boss, in the batches of *batcher*
    (:class:`plan.Batcher`, every candidate of *epoch*): *boss* gives (model, criterion); rank r
    scores batches r, r + ranks, ... in evaluation mode without backward, and the ranks exchange
    their (ids, summed losses, target tokens). Returns them, all ranks', in rank and batch order,
    as numpy arrays."""
    model, criterion = boss()
    batches = batcher(dataset, epoch)
    device = next(model.parameters()).device
    mine = batches[ranks.rank::ranks.size]
    rounds = math.ceil(len(batches) / ranks.size)
    exchange = Ranks.rounds(max((len(b) for b in batches), default=1))
    found = []
    was_training = model.training
    model.eval()
    try:
        for i in range(rounds):
            step = (torch.zeros(0, dtype=torch.int64), torch.zeros(0), torch.zeros(0))
            if i < len(mine):
                sample = utils.apply_to_sample(lambda t: t.to(device),
                                               dataset.collater([dataset[j] for j in mine[i]]))
                rows = torch.arange(len(sample["id"]), device=device)
                losses, ntokens = sentence_losses(model, sample, rows, rows, criterion)
                step = (sample["id"].cpu(), losses.float().cpu(), ntokens.cpu())
            if ranks.size > 1:
                found += unpack(ranks.gather(*step, exchange).cpu().numpy())
            else:
                found.append(tuple(t.numpy() for t in step))
    finally:
        model.train(was_training)
    ids, losses, ntokens = (np.concatenate([f[k] for f in found]) for k in range(3))
    return ids.astype(np.int64), losses.astype(np.float64), ntokens.astype(np.float64)
