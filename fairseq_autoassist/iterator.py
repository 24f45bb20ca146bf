"""fairseq's epoch batch iterator for the training split: its state carries the training progress
and, with the Assistant on, the batches come from the epoch plans of :mod:`autoassist` and the
state carries the Assistant and the interrupted epoch's plan (fairseq-train restores the
iterator's state, never the task's)."""

from fairseq.data import iterators
from fairseq.logging import metrics

from .options import tell_errors

PLAN_METRICS = (("candidates", 0), ("keep_rate", 4), ("kept_pairs", 0), ("kept_tokens", 0),
                ("keep_floor", 3), ("weight_mean", 4))
ASSISTANT_METRICS = (("assistant_acc", 4), ("assistant_auc", 4), ("assistant_conf", 4),
                     ("assistant_loss_mean", 4), ("assistant_losses", 0),
                     ("assistant_nonfinite", 0))


class ProgressEpochBatchIterator(iterators.EpochBatchIterator):
    """fairseq's :class:`EpochBatchIterator` whose state also carries the training progress
    (:class:`progress.TrainingProgress`): the training split's iterator of the baseline."""

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
    """The training split's iterator with the Assistant on: every epoch planned anew.

    The epoch's length is fixed once :meth:`next_epoch_itr` returns. With one chunk per epoch
    fairseq shuffles and walks the planned batches itself; with more, :meth:`ordered_batches`
    hands fairseq's data loader a lazy sequence whose chunks are planned as training reaches them.
    """

    def __init__(self, autoassist, progress, **kwargs):
        self.autoassist = autoassist
        self._restored = None  # the saved plan of an interrupted epoch
        self._offset = 0
        super().__init__(progress, batch_sampler=self._plan_epoch, **kwargs)
        autoassist.follow(lambda: self.iterations_in_epoch)  # training progress, in batches
        if self.num_shards != autoassist.ranks.size:
            raise ValueError(f"AutoAssist: the iterator has {self.num_shards} shards but "
                             f"{autoassist.ranks.size} ranks train")

    def _plan_epoch(self, dataset, epoch):
        restored = None
        if self._restored is not None and self._restored["keep_epoch"] == epoch:
            restored, self._restored = self._restored, None
        return self.autoassist.plan_epoch(epoch, restored).length_batches()

    def _get_iterator_for_epoch(self, epoch, shuffle, fix_batches_to_gpus=False, offset=0):
        self._offset = offset
        return super()._get_iterator_for_epoch(epoch, shuffle, fix_batches_to_gpus, offset)

    def ordered_batches(self, epoch, fix_batches_to_gpus, shuffle):
        self.frozen_batches  # plans the epoch if not yet done
        planned = self.autoassist.ordered_batches(self._offset * self.num_shards, shuffle,
                                                  self.num_shards, self.shard_id)
        if planned is None:  # one chunk: fairseq shuffles and shards the plan
            return super().ordered_batches(epoch, fix_batches_to_gpus, shuffle)
        return planned

    @property
    def first_batch(self):
        """fairseq's dummy batch, taken from the unplanned candidates (planning needs the
        Assistant's restored state, which a checkpoint brings only after this is read)."""
        batches = self.autoassist.candidate_batches(self.epoch)
        if len(batches) == 0:
            raise ValueError("The training set is empty: every pair was filtered out by size")
        return self.collate_fn([self.dataset[i] for i in batches[0]])

    def next_epoch_itr(self, shuffle=True, fix_batches_to_gpus=False, set_dataset_epoch=True):
        itr = super().next_epoch_itr(shuffle, fix_batches_to_gpus, set_dataset_epoch)
        self.autoassist.epoch_started()
        # metrics of fairseq's epoch train line, computed when it is printed (after the epoch's
        # last step): the plan as trained and the Assistant's accuracy/AUC on this epoch's losses
        parts = self.autoassist.pairs.metrics()
        for first, keys in ((799, PLAN_METRICS), (810, ASSISTANT_METRICS), *parts):
            for i, (key, digits) in enumerate(keys):
                metrics.log_derived(key, self._epoch_stat(key, digits), priority=first + i)
        return itr

    def _epoch_stat(self, key, digits):
        def value(meters):
            return round(float(self.autoassist.epoch_stats()[key]), digits)
        return value

    def state_dict(self):
        state = super().state_dict()
        state["autoassist"] = self.autoassist.state_dict(mid_epoch=state["iterations_in_epoch"] > 0)
        return state

    @tell_errors
    def load_state_dict(self, state_dict):
        if "autoassist" in state_dict:
            self._restored = self.autoassist.load_state_dict(state_dict["autoassist"])
            self._frozen_batches = None  # planned before the checkpoint was read: plan again
        super().load_state_dict(state_dict)
        if self._next_epoch_itr is None:
            self._frozen_batches = None
