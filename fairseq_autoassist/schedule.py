"""Learning-rate schedule ``autoassist_cosine``: warm-up in updates, then cosine decay to a floor
over *data progress* (epochs), not over updates.

fairseq's ``cosine`` and ``polynomial_decay`` decay over ``--max-update``: with pruning an epoch
has fewer updates, so the same ``--max-epoch`` ends before the schedule has decayed, and a run
given fewer updates is cut off mid-schedule. Here progress is ``(epochs done + fraction of the
current epoch's batches trained) / --max-epoch``, so a pruned epoch of fewer batches advances the
schedule as far as a full one, and every run, pruned or not, reaches the floor at its last update:

    lr(u, P) = warm(u) * (min_lr + (lr - min_lr) * (1 + cos(pi * P)) / 2),
    warm(u) = min(1, u / warmup_updates),  P = progress in [0, 1].

The fraction of the epoch comes from the training batch iterator, which the task hands over when
it builds it (:func:`follow`); it counts the batches of this rank's shard, so every rank computes
the same rate, and a resumed iterator starts at its saved offset, so a resumed run continues the
same rates. The schedule keeps no state of its own. Only ``--task autoassist_translation`` hands
it an iterator: under any other task fairseq-train stops as the first epoch begins, before an
update (it would otherwise train at the warm-up's rate 0, or at the peak without decay).
"""

import math
from dataclasses import dataclass, field
from typing import List

from fairseq.dataclass import FairseqDataclass
from fairseq.optim.lr_scheduler import FairseqLRScheduler, register_lr_scheduler
from omegaconf import II

from .options import fail, tell_schedule_errors

_followed = {"iterator": None}


def follow(epoch_itr):
    """The training batch iterator whose position is the schedule's progress (set by the task
    when fairseq-train asks it for the training split's iterator)."""
    _followed["iterator"] = epoch_itr


def epoch_fraction(epoch_itr, epoch_batches):
    """Fraction of the epoch's *epoch_batches* (this shard's) that *epoch_itr* has handed out."""
    return min(epoch_itr.iterations_in_epoch / max(epoch_batches, 1), 1.0)


@dataclass
class AutoAssistCosineConfig(FairseqDataclass):
    warmup_updates: int = field(
        default=0, metadata={"help": "linear warm-up from 0 over this many updates"})
    min_lr: float = field(
        default=0.0, metadata={"help": "the floor the rate decays to at the end of --max-epoch"})
    lr: List[float] = II("optimization.lr")
    max_epoch: int = II("optimization.max_epoch")


@register_lr_scheduler("autoassist_cosine", dataclass=AutoAssistCosineConfig)
class AutoAssistCosineSchedule(FairseqLRScheduler):
    """Cosine decay over epochs of data (``--max-epoch``), after a warm-up in updates."""

    @tell_schedule_errors
    def __init__(self, cfg, optimizer):
        super().__init__(cfg, optimizer)
        if not cfg.max_epoch or cfg.max_epoch < 1:
            fail("--lr-scheduler autoassist_cosine decays over --max-epoch: set --max-epoch N "
                 "(N >= 1)")
        if len(cfg.lr) > 1:
            fail("--lr-scheduler autoassist_cosine takes one --lr")
        if cfg.warmup_updates < 0 or not 0.0 <= cfg.min_lr <= cfg.lr[0]:
            fail("--warmup-updates must be >= 0 and --min-lr in [0, --lr], got "
                 f"{cfg.warmup_updates} and {cfg.min_lr}")
        self.peak = cfg.lr[0]
        self.epoch = 1
        self.epoch_batches = None  # this shard's batches in the current epoch, once it began
        self.optimizer.set_lr(self.rate(0, 0.0))

    def progress(self):
        """Epochs trained (fractional) over --max-epoch, in [0, 1]."""
        done = self.epoch - 1 + epoch_fraction(_followed["iterator"], self.epoch_batches)
        return min(max(done / self.cfg.max_epoch, 0.0), 1.0)

    def rate(self, num_updates, progress):
        warm = 1.0
        if self.cfg.warmup_updates > 0:
            warm = min(1.0, num_updates / self.cfg.warmup_updates)
        floor = self.cfg.min_lr
        return warm * (floor + (self.peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))

    @tell_schedule_errors
    def step_begin_epoch(self, epoch):
        """An epoch's iterator exists once fairseq begins the epoch: take its length. None was
        handed over (another task): stop, before the epoch's first update."""
        itr = _followed["iterator"]
        if itr is None:
            fail("--lr-scheduler autoassist_cosine follows the training data of --task "
                 "autoassist_translation, which this run's task does not hand it: use that task "
                 "(--assistant-off for the stock baseline) or another --lr-scheduler")
        if itr.epoch == epoch:
            self.epoch, self.epoch_batches = epoch, len(itr)
        return self.optimizer.get_lr()

    def step(self, epoch, val_loss=None):
        super().step(epoch, val_loss)
        return self.optimizer.get_lr()

    def step_update(self, num_updates):
        if self.epoch_batches is None:  # a checkpoint being loaded, before its epoch begins
            return self.optimizer.get_lr()
        lr = self.rate(num_updates, self.progress())
        self.optimizer.set_lr(lr)
        return lr
