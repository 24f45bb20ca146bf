"""fairseq's epoch batch iterator, fed by the AutoAssist planner (``sampler``) instead of a fixed
list of batches; its ``state_dict`` carries the Assistant and the interrupted epoch's plan, since
fairseq-train restores the iterator's state, never the task's."""

import logging

import torch
from fairseq.data import iterators
from fairseq.logging import metrics

logger = logging.getLogger(__name__)


class ProgressEpochBatchIterator(iterators.EpochBatchIterator):
    """fairseq's :class:`EpochBatchIterator` whose state also carries the training progress
    (:class:`progress.TrainingProgress`): the training split's iterator, with or without the
    Assistant."""

    def __init__(self, progress, **kwargs):
        self.progress = progress
        super().__init__(**kwargs)

    def state_dict(self):
        return dict(super().state_dict(), training_progress=self.progress.state_dict())

    def load_state_dict(self, state_dict):
        if "training_progress" in state_dict:
            self.progress.load_state_dict(state_dict["training_progress"])
        super().load_state_dict(state_dict)


class AutoAssistEpochBatchIterator(ProgressEpochBatchIterator):
    """fairseq's :class:`EpochBatchIterator` whose batches are planned anew for every epoch.

    The epoch's length is fixed once :meth:`next_epoch_itr` returns. With one chunk per epoch
    fairseq shuffles and walks the planned batches itself; with more, :meth:`ordered_batches`
    hands fairseq's data loader a lazy sequence whose chunks are planned as training reaches them.
    """

    def __init__(self, planner, progress, **kwargs):
        self.planner = planner
        self.plan = None
        self._restored = None  # the saved plan of an interrupted epoch
        self._offset = 0
        self._checksums = None  # (Assistant, plan, ranks) of the plan agreed on last
        super().__init__(progress, batch_sampler=self._plan_epoch, **kwargs)
        if self.num_shards != planner.shards:
            raise ValueError(f"AutoAssist: the iterator has {self.num_shards} shards but the "
                             f"planner expects {planner.shards} ranks")

    def _plan_epoch(self, dataset, epoch):
        restored = self._restored if self._restored and self._restored["epoch"] == epoch else None
        if restored is not None or self.plan is None or self.plan.epoch != epoch:
            self.plan = self.planner.plan(epoch, restored)
            self._restored = None
            self._agree()
        return self.plan.frozen()

    def _agree(self):
        """Every rank must hold the same Assistant and plan (else their epochs would differ and
        training would hang): compare checksums across ranks, log them, stop if they differ;
        kept for the plan's record."""
        ranks = self.planner.ranks
        mine = [self.planner.assistant.checksum(), self.plan.digest(), self.plan.total]
        every = ranks.agree(mine)
        if any(v != mine for v in every):
            raise RuntimeError(
                f"AutoAssist epoch {self.plan.epoch}: the ranks' Assistants or plans differ "
                f"(per rank: Assistant checksum, plan checksum, batches): {every}")
        logger.info("AutoAssist epoch %d: Assistant checksum %08x, plan checksum %08x, %d batches, "
                    "identical on all %d rank(s)", self.plan.epoch, mine[0], mine[1], mine[2],
                    ranks.size)
        self._checksums = (mine[0], mine[1], ranks.size)

    def _get_iterator_for_epoch(self, epoch, shuffle, fix_batches_to_gpus=False, offset=0):
        self._offset = offset
        return super()._get_iterator_for_epoch(epoch, shuffle, fix_batches_to_gpus, offset)

    def ordered_batches(self, epoch, fix_batches_to_gpus, shuffle):
        self.frozen_batches  # plans the epoch if not yet done
        self.plan.start_counting(self._offset * self.num_shards)
        if self.planner.chunks == 1:  # fairseq shuffles and shards the plan
            return super().ordered_batches(epoch, fix_batches_to_gpus, shuffle)
        return self.plan.ordered(shuffle, self.num_shards, self.shard_id)

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
        self.plan.log()
        self.planner.record("plan", self.plan, self.plan.restored, *self._checksums)
        self._log_epoch()
        return itr

    def _log_epoch(self):
        """Epoch metrics in fairseq's epoch ``train`` line, computed when it is printed (after the
        epoch's last step): the plan as trained (chunks planned later included) and the
        Assistant's accuracy/AUC on this epoch's losses."""
        for i, (key, digits) in enumerate((("candidates", 0), ("keep_rate", 4), ("kept_pairs", 0),
                                           ("kept_tokens", 0), ("keep_floor", 3),
                                           ("weight_mean", 4))):
            metrics.log_derived(key, self._derived(self._plan_stat, key, digits), priority=799 + i)
        for i, (key, digits) in enumerate((("assistant_acc", 4), ("assistant_auc", 4),
                                           ("assistant_conf", 4), ("assistant_loss_mean", 4),
                                           ("assistant_losses", 0))):
            metrics.log_derived(key, self._derived(self._assistant_stat, key, digits),
                                priority=810 + i)

    def _plan_stat(self, key):
        return self.plan.stats()[key]

    def _assistant_stat(self, key):
        self.planner.feed.drain()
        return self.planner.assistant.epoch_stats()[key]

    @staticmethod
    def _derived(stat, key, digits):
        def value(meters):
            return round(float(stat(key)), digits)
        return value

    def state_dict(self):
        state = super().state_dict()
        self.planner.feed.drain()
        mid_epoch = state["iterations_in_epoch"] > 0 and self.plan is not None
        plan = self.plan.state() if mid_epoch else None
        state["autoassist"] = {
            "assistant": self.planner.assistant.state_dict(),
            "keep_epoch": int(plan["epoch"]) if mid_epoch else -1,
            "keep": torch.from_numpy(plan["keep"]) if mid_epoch else torch.zeros(0, dtype=torch.bool),
            "weight": (torch.from_numpy(plan["weight"]) if mid_epoch
                       else torch.zeros(0, dtype=torch.float32)),
            "budgets": torch.tensor(plan["budgets"] if mid_epoch else [], dtype=torch.int64),
            "planned": int(plan["planned"]) if mid_epoch else 0,
        }
        return state

    def load_state_dict(self, state_dict):
        aa = state_dict.get("autoassist")
        if aa is not None:
            self.planner.feed.drain()
            self.planner.assistant.load_state_dict(aa["assistant"])
            self._restored = None
            if aa["keep_epoch"] >= 0:
                keep = aa["keep"].numpy().copy()
                # checkpoints written before chunked planning: one chunk, planned
                budgets = aa["budgets"].tolist() if "budgets" in aa else None
                weight = aa["weight"].numpy().copy() if "weight" in aa else None
                self._restored = {"epoch": int(aa["keep_epoch"]), "keep": keep, "weight": weight,
                                  "budgets": budgets, "planned": int(aa.get("planned", 1))}
            self.plan = None
            self._frozen_batches = None  # planned before the checkpoint was read: plan again
        super().load_state_dict(state_dict)
        if self._next_epoch_itr is None:
            self._frozen_batches = None
