"""Which pairs each epoch trains on, and how they are packed into batches.

AutoAssist's batch generator (paper Sec. 3.2): after the warm-up epochs, which keep everything,
each candidate pair is kept with probability ``p = max(base_prob, 1 - confidence)``, otherwise
with the Assistant's predicted probability that the pair is hard; one uniform draw per pair
decides both, so pair *i* is kept with probability ``p + (1 - p) * q_i``. The kept pairs are
packed into token-bucketed batches exactly as fairseq packs a full epoch, so batches stay full
and the epoch simply has fewer of them.

fairseq builds its batches once per run; here each epoch is planned anew at the epoch boundary
with the Assistant's state at that moment. The plan of the current epoch and the Assistant's state
ride in the batch iterator's ``state_dict``, so a run stopped mid-epoch resumes the same plan.
"""

import logging

import numpy as np
import torch
from fairseq.data import data_utils, iterators
from fairseq.logging import metrics

logger = logging.getLogger(__name__)


def keep_mask(rng_seed, p_floor, q):
    """The acceptance rule: pair *i* is kept iff ``u_i < p + (1 - p) * q_i``, ``u_i ~ U(0, 1)``.

    Equivalent to the paper's two-stage draw (keep when ``u < p``, else keep with probability
    ``q`` using the renormalised ``(u - p) / (1 - p)``), with one uniform draw per pair.
    """
    u = np.random.default_rng(rng_seed).random(len(q))
    return u < p_floor + (1.0 - p_floor) * np.asarray(q)


def random_rate(rates, epoch):
    """The keep rate of *epoch* in *rates* ({epoch: rate}); past its last epoch, the last rate."""
    known = [e for e in rates if e <= epoch]
    return float(rates[max(known)]) if known else 1.0


class Batcher:
    """fairseq's batching of one dataset (order, size filter, token buckets) without its loss of
    the last ``N mod k`` pairs when ``--required-batch-size-multiple k > 1``: the remainder becomes
    a batch of its own."""

    def __init__(self, task, dataset, max_tokens, max_sentences, max_positions,
                 ignore_invalid_inputs, required_batch_size_multiple, seed):
        self.task = task
        self.dataset = dataset
        self.max_tokens = max_tokens
        self.max_sentences = max_sentences
        self.max_positions = max_positions
        self.ignore_invalid_inputs = ignore_invalid_inputs
        self.bsz_mult = required_batch_size_multiple
        self.seed = seed

    def candidates(self, epoch):
        """Indices shuffled and length-sorted as fairseq does, too-long pairs filtered out."""
        with data_utils.numpy_seed(self.seed + epoch):
            indices = self.dataset.ordered_indices()
        if self.max_positions is not None:
            indices = self.task.filter_indices_by_size(
                indices, self.dataset, self.max_positions, self.ignore_invalid_inputs
            )
        return np.asarray(indices, dtype=np.int64)

    def pack(self, indices):
        """Token-bucketed batches of *indices* (in their order); every index lands in one batch."""
        batches = list(self.dataset.batch_by_size(
            indices,
            max_tokens=self.max_tokens,
            max_sentences=self.max_sentences,
            required_batch_size_multiple=self.bsz_mult,
        ))
        packed = sum(len(b) for b in batches)
        if packed < len(indices):
            batches.append(np.asarray(indices[packed:], dtype=np.int64))
        return batches

    def __call__(self, dataset, epoch):
        return self.pack(self.candidates(epoch))


class EpochPlanner:
    """Plans one epoch: candidates, the keep mask from the Assistant, the packed batches.

    With *random_rates* (epoch -> keep rate) pairs are dropped uniformly at random at that rate
    instead: the control that shows whether the Assistant's choices matter.
    """

    def __init__(self, batcher, tables, assistant, feed, base_prob, warmup_epochs, seed,
                 random_rates=None):
        self.batcher = batcher
        self.random_rates = random_rates
        self.tables = tables
        self.assistant = assistant
        self.feed = feed
        self.base_prob = base_prob
        self.warmup_epochs = warmup_epochs
        self.seed = seed

    def keep_floor(self, epoch):
        if self.random_rates is not None:
            return random_rate(self.random_rates, epoch)
        if epoch <= self.warmup_epochs:
            return 1.0
        return max(self.base_prob, 1.0 - self.assistant.confidence)

    def decide(self, epoch, candidates):
        """Keep mask over all dataset indices for *epoch* (Assistant state as of now)."""
        keep = np.zeros(len(self.tables), dtype=bool)
        p = self.keep_floor(epoch)
        if p >= 1.0:
            keep[candidates] = True
        elif self.random_rates is not None:
            # its own random stream: the control's draws are independent of AutoAssist's
            keep[candidates] = keep_mask((self.seed, epoch, 1), p, np.zeros(len(candidates)))
        else:
            q = self.assistant.keep_prob(self.tables, candidates)
            keep[candidates] = keep_mask((self.seed, epoch), p, q)
        return keep

    def plan(self, epoch, keep=None):
        """Batches for *epoch*; *keep* is a restored keep mask, else one is drawn now."""
        self.feed.drain()
        self.assistant.begin_epoch(epoch, len(self.tables))
        candidates = self.batcher.candidates(epoch)
        if keep is None:
            keep = self.decide(epoch, candidates)
        kept = candidates[keep[candidates]]
        note = ""
        if len(kept) == 0 and len(candidates) > 0:
            kept = self.batcher.pack(candidates)[0]
            keep = np.zeros_like(keep)
            keep[kept] = True
            note = " (the plan kept no pair: training one batch)"
        batches = self.batcher.pack(kept)
        stats = {
            "candidates": len(candidates),
            "kept_pairs": len(kept),
            "keep_rate": len(kept) / max(len(candidates), 1),
            "kept_tokens": int(self.tables.tgt.sizes[kept].sum()),
            "keep_floor": self.keep_floor(epoch),
            "batches": len(batches),
        }
        logger.info(
            "AutoAssist epoch %d plan: kept %d of %d pairs (keep_rate %.4f, floor p=%.3f), "
            "%d target tokens, %d batches%s",
            epoch, stats["kept_pairs"], stats["candidates"], stats["keep_rate"],
            stats["keep_floor"], stats["kept_tokens"], stats["batches"], note,
        )
        return batches, keep, stats


class AutoAssistEpochBatchIterator(iterators.EpochBatchIterator):
    """fairseq's :class:`EpochBatchIterator` whose batches are planned anew for every epoch.

    The epoch's length is fixed once :meth:`next_epoch_itr` returns. ``state_dict`` carries the
    Assistant's state and the current epoch's keep mask; ``load_state_dict`` restores them before
    the epoch is (re)planned.
    """

    def __init__(self, planner, **kwargs):
        self.planner = planner
        self._keep = None  # (epoch, keep mask) of the planned epoch
        self._stats = None
        super().__init__(batch_sampler=self._plan, **kwargs)

    def _plan(self, dataset, epoch):
        restored = self._keep[1] if self._keep is not None and self._keep[0] == epoch else None
        batches, keep, self._stats = self.planner.plan(epoch, restored)
        self._keep = (epoch, keep)
        return batches

    @property
    def first_batch(self):
        """fairseq's dummy batch, taken from the unplanned candidates (planning needs the
        Assistant's restored state, which a checkpoint brings only after this is read)."""
        batches = self.planner.batcher(self.dataset, self.epoch)
        if len(batches) == 0:
            raise ValueError("The training set is empty: every pair was filtered out by size")
        return self.collate_fn([self.dataset[i] for i in batches[0]])

    def next_epoch_itr(self, shuffle=True, fix_batches_to_gpus=False, set_dataset_epoch=True):
        itr = super().next_epoch_itr(shuffle, fix_batches_to_gpus, set_dataset_epoch)
        self._log_epoch()
        return itr

    def _log_epoch(self):
        """Epoch metrics in fairseq's epoch ``train`` line: the plan now, the Assistant's
        accuracy/AUC on this epoch's losses when the line is printed (after the last step)."""
        s = self._stats
        metrics.log_scalar("candidates", float(s["candidates"]), priority=799, round=0)
        metrics.log_scalar("keep_rate", float(s["keep_rate"]), priority=800, round=4)
        metrics.log_scalar("kept_pairs", float(s["kept_pairs"]), priority=801, round=0)
        metrics.log_scalar("kept_tokens", float(s["kept_tokens"]), priority=802, round=0)
        metrics.log_scalar("keep_floor", float(s["keep_floor"]), priority=803, round=3)
        for i, key in enumerate(("assistant_acc", "assistant_auc", "assistant_conf",
                                 "assistant_loss_mean")):
            metrics.log_derived(key, self._derived(key), priority=810 + i)

    def _derived(self, key):
        def value(meters):
            self.planner.feed.drain()
            return round(float(self.planner.assistant.epoch_stats()[key]), 4)
        return value

    def state_dict(self):
        state = super().state_dict()
        self.planner.feed.drain()
        mid_epoch = state["iterations_in_epoch"] > 0 and self._keep is not None
        state["autoassist"] = {
            "assistant": self.planner.assistant.state_dict(),
            "keep_epoch": int(self._keep[0]) if mid_epoch else -1,
            "keep": torch.from_numpy(self._keep[1].copy()) if mid_epoch else torch.zeros(0, dtype=torch.bool),
        }
        return state

    def load_state_dict(self, state_dict):
        aa = state_dict.get("autoassist")
        if aa is not None:
            self.planner.feed.drain()
            self.planner.assistant.load_state_dict(aa["assistant"])
            self._keep = (int(aa["keep_epoch"]), aa["keep"].numpy().copy()) if aa["keep_epoch"] >= 0 else None
            self._frozen_batches = None  # planned before the checkpoint was read: plan again
        super().load_state_dict(state_dict)
        if self._next_epoch_itr is None:
            self._frozen_batches = None
