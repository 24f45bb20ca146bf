"""Task ``autoassist_translation``: fairseq's translation task whose training batches come from
AutoAssist's shrinking batch generator (Zhang, Yu & Dhillon, NeurIPS 2019).

The task builds one :class:`autoassist.AutoAssist` for fairseq-train's training split and talks
only to it: its epoch plans feed the training iterator (:mod:`iterator`), ``train_step`` hands it
the plan's loss weights for the criterion and the per-sentence losses the criterion computed
(:mod:`autoassist` draws the whole loop). Inference (fairseq-generate, fairseq-interactive) is
exactly ``translation``'s; nothing of AutoAssist is built then.
"""

import logging
from dataclasses import dataclass, field
from typing import Optional

from fairseq import utils
from fairseq.data import iterators
from fairseq.dataclass import ChoiceEnum
from fairseq.distributed import utils as distributed_utils
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask
from omegaconf import II

from . import options, parent, progress, schedule
from .autoassist import AutoAssist
from .iterator import AutoAssistEpochBatchIterator, ProgressEpochBatchIterator
from .noise_rule import NoiseRuleConfig
from .options import fail, tell_errors
from .plan import Batcher
from .progress import TrainingProgress
from .rules import RULES
from .swiftlearn import SwiftLearnConfig

logger = logging.getLogger(__name__)


def option(default, text):
    """A fairseq config field: its default and its --help text."""
    return field(default=default, metadata={"help": text})


@dataclass
class AutoAssistTranslationConfig(TranslationConfig, NoiseRuleConfig, SwiftLearnConfig):
    assistant_off: bool = option(
        False, "train on every pair, exactly like --task translation (the baseline)")
    assistant_base_prob: float = option(
        0.5, "read by the paper, skip-hard and skip-noise rules (infobatch ignores it): paper "
        "keeps a pair with probability at least max(base_prob, 1 - confidence), otherwise as the "
        "Assistant predicts; skip-hard and skip-noise keep a skipped pair with this probability "
        "(re-checked)")
    assistant_warmup_epochs: int = option(
        1, "epochs that train on every pair while the Assistant learns")
    assistant_features: ChoiceEnum(["bow", "tfidf"]) = option(
        "tfidf", "Assistant features of source and target over the fairseq dictionaries: bag "
        "of words (count/len) or TF-IDF (count/len * idf; the IDF and the mean lengths count "
        "every shard of sharded data)")
    assistant_mean: ChoiceEnum(["ema", "prev-epoch"]) = option(
        "ema", "the running mean loss per target token that splits easy (0) from hard (1) pairs: "
        "ema = EMA of the Boss's batch means throughout training; prev-epoch = EMA during "
        "warm-up, then the previous epoch's mean")
    assistant_mean_decay: float = option(0.9, "decay per Boss step of the EMA of the mean loss")
    assistant_rule: ChoiceEnum(list(RULES)) = option(
        "infobatch", "keep rule: infobatch (the default, the best of the three on clean data so "
        "far) = drop a pair predicted learned with probability --assistant-prune-ratio r and "
        "weight its survivors 1/(1 - r) (unbiased); paper = keep with probability p + (1 - p) q "
        "(AutoAssist's rule); skip-hard = skip pairs that stay in the top "
        "--assistant-hard-fraction of their batch's losses for --assistant-hard-streak "
        "observations (noisy data), re-checked with probability base_prob; skip-noise = skip "
        "pairs whose noise evidence passes --assistant-noise-threshold (copies, wrong language, "
        "templated duplicates, length ratio, the Boss's contrast: noisy corpora), re-checked "
        "with probability base_prob; swiftlearn = after the warm-up, train on the "
        "--assistant-swiftlearn-keep share of the pairs the Boss finds most important (its loss "
        "in forward passes without backward over every pair, measured again every "
        "--assistant-swiftlearn-interval epochs)")
    assistant_scorer: ChoiceEnum(["assistant", "last-loss", "random"]) = option(
        "assistant", "what says a pair is hard: the Assistant's prediction; its last seen loss "
        "against the running mean (last-loss; never seen = hard); or random, the control: the "
        "rule applied to random pairs at the keep rates of --assistant-keep-rates")
    assistant_prune_ratio: float = option(
        0.5, "infobatch: probability r that a pair predicted learned is dropped; its survivors "
        "get loss weight 1/(1 - r)")
    assistant_reweight: bool = option(
        False, "paper rule: weight each kept pair's loss by 1/keep probability (capped by "
        "--assistant-reweight-max), an unbiased gradient")
    assistant_reweight_max: float = option(4.0, "cap of the --assistant-reweight weights")
    assistant_anneal: Optional[float] = option(
        None, "the last F of --max-epoch train on every pair with weight 1 (default: 0.125 for "
        "infobatch, 0 for the other rules)")
    assistant_hard_fraction: float = option(
        0.2, "skip-hard: a loss in the top F of its batch counts as hard")
    assistant_hard_streak: int = option(
        2, "skip-hard: observations in a row in the top fraction before a pair is skipped")
    assistant_keep_rates: Optional[str] = option(
        None, "JSON file {epoch: keep rate} for --assistant-scorer random (epochs past the last "
        "one keep its rate), e.g. an AutoAssist run's keep rates")
    assistant_plan_chunks: int = option(
        1, "plan each epoch in N chunks: the epoch's length is fixed at its start, and chunk k > "
        "1 is planned again with the Assistant's state when half of chunk k - 1 has been trained "
        "(for long epochs, where a plan made at the epoch start goes stale); 1 = plan once per "
        "epoch")
    assistant_plan_dir: Optional[str] = option(
        None, "write the plan records to DIR: JSON lines in DIR/plans.jsonl (each epoch's start "
        "plan with its checksums, each chunk planned during it, each complete plan: keep rate, "
        "kept pairs and tokens, batches), and the kept pair ids, their loss weights and the "
        "dropped ids of each epoch in DIR/epoch<N>.npz (default: only plans.jsonl, in "
        "--save-dir; nothing with --no-save)")
    assistant_init: Optional[str] = option(
        None, "start from the Assistant of another run: a checkpoint of an "
        "autoassist_translation run on the same dictionaries (its weights and running "
        "statistics; a resumed run keeps its own)")
    assistant_freeze: bool = option(
        False, "never update the Assistant: plan every epoch with the fixed Assistant of "
        "--assistant-init (needed: without it training stops with an error); its accuracy and "
        "AUC are still reported")
    assistant_loss_history: bool = option(
        False, "keep each training pair's loss over the epochs (epochs seen, first and last, "
        "mean, spread, loss relative to its batch: 26 bytes per pair, in the checkpoint) for the "
        "data report's training-dynamics signals")
    assistant_lr: float = option(
        0.5, "learning rate of the Assistant's online AdaGrad (per-token step sizes)")
    assistant_l2: float = option(1e-4, "L2 regularisation of the Assistant's weights")
    max_epoch: int = II("optimization.max_epoch")
    save_dir: str = II("checkpoint.save_dir")
    no_save: bool = II("checkpoint.no_save")
    restore_file: str = II("checkpoint.restore_file")
    finetune_from_model: Optional[str] = II("checkpoint.finetune_from_model")


@register_task("autoassist_translation", dataclass=AutoAssistTranslationConfig)
class AutoAssistTranslationTask(TranslationTask):
    """Translation with an Assistant that decides which pairs the Boss trains on."""

    cfg: AutoAssistTranslationConfig

    @tell_errors
    def __init__(self, cfg: AutoAssistTranslationConfig, src_dict, tgt_dict):
        options.check_values(cfg)
        super().__init__(cfg, src_dict, tgt_dict)
        self.training = False  # set once fairseq-train's trainer loads the training split
        self.autoassist = None  # built for fairseq-train's training split
        self.boss_model = self.boss_criterion = None  # built for this task: swiftlearn measures
        self.progress = TrainingProgress()  # saved with the training iterator
        self._checked = False  # options.check_training ran

    @classmethod
    @tell_errors
    def setup_task(cls, cfg, **kwargs):
        cfg.source_lang, cfg.target_lang = options.language_pair(cfg.data, cfg.source_lang,
                                                                 cfg.target_lang)
        return super().setup_task(cfg, **kwargs)

    @tell_errors
    def build_model(self, cfg, from_checkpoint=False):
        """fairseq's; fairseq-train fine-tuning a checkpoint checks its dictionaries first."""
        start = None if from_checkpoint else parent.parent_path(self.cfg)
        if start:
            parent.check_parent(start, utils.split_paths(self.cfg.data)[0],
                                (self.cfg.source_lang, self.cfg.target_lang),
                                {"source": self.src_dict, "target": self.tgt_dict})
        self.boss_model = super().build_model(cfg, from_checkpoint)
        return self.boss_model

    @tell_errors
    def build_criterion(self, cfg, from_checkpoint=False):
        criterion = super().build_criterion(cfg, from_checkpoint)
        if not self.cfg.assistant_off and not getattr(criterion, "gives_sentence_losses", False):
            fail(f"--task autoassist_translation needs per-sentence losses from its criterion, "
                 f"which {type(criterion).__name__} does not give: use --criterion "
                 f"autoassist_label_smoothed_cross_entropy, or --assistant-off for the baseline")
        self.boss_criterion = criterion
        return criterion

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        """fairseq's. The training split loaded with its shards combined, as only fairseq-train's
        trainer loads it, marks this process as training: fairseq-validate (on any split),
        fairseq-generate and the data report load splits uncombined, and plan nothing."""
        super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
        if combine and split == self.cfg.train_subset:
            self.training = True

    @tell_errors
    def get_batch_iterator(self, dataset, max_tokens=None, max_sentences=None, max_positions=None,
                           ignore_invalid_inputs=False, required_batch_size_multiple=1, seed=1,
                           num_shards=1, shard_id=0, num_workers=0, epoch=1, data_buffer_size=0,
                           disable_iterator_cache=False, skip_remainder_batch=False,
                           grouped_shuffling=False, update_epoch_batch_itr=False):
        """fairseq's iterator, with batches that never drop a pair; for the training split an
        iterator that plans every epoch with the Assistant."""
        reuse = (not disable_iterator_cache and not update_epoch_batch_itr
                 and self.can_reuse_epoch_itr(dataset))
        if reuse and dataset in self.dataset_to_epoch_iter:
            return self.dataset_to_epoch_iter[dataset]
        dataset.set_epoch(epoch)
        batcher = Batcher(self, dataset, max_tokens, max_sentences, max_positions,
                          ignore_invalid_inputs, required_batch_size_multiple, seed)
        common = dict(
            dataset=dataset, collate_fn=dataset.collater, seed=seed, num_shards=num_shards,
            shard_id=shard_id, num_workers=num_workers, epoch=epoch, buffer_size=data_buffer_size,
            skip_remainder_batch=skip_remainder_batch, grouped_shuffling=grouped_shuffling,
            reuse_dataloader=getattr(self.cfg, "reuse_dataloader", True),
            persistent_workers=getattr(self.cfg, "persistent_workers", True),
        )
        if self._trains_on(dataset) and not self._checked:
            options.check_training(self.cfg, AutoAssistTranslationConfig, grouped_shuffling)
            self._checked = True
        if self._plans(dataset):
            if self.autoassist is None:
                self.autoassist = AutoAssist(self.cfg, dataset, self.src_dict, self.tgt_dict,
                                             boss=lambda: (self.boss_model, self.boss_criterion))
            self.autoassist.use(dataset, batcher, seed)
            itr = AutoAssistEpochBatchIterator(self.autoassist, self.progress, **common)
        elif self._trains_on(dataset):  # the baseline (--assistant-off)
            itr = ProgressEpochBatchIterator(self.progress, batch_sampler=batcher(dataset, epoch),
                                             **common)
        else:
            itr = iterators.EpochBatchIterator(batch_sampler=batcher(dataset, epoch), **common)
        if reuse:
            self.dataset_to_epoch_iter[dataset] = itr
        if self._trains_on(dataset):
            schedule.follow(itr)  # --lr-scheduler autoassist_cosine decays over its epochs
        return itr

    def _trains_on(self, dataset):
        """*dataset* is the split fairseq-train trains on."""
        return self.training and dataset is self.datasets.get(self.cfg.train_subset)

    def _plans(self, dataset):
        return self._trains_on(dataset) and not self.cfg.assistant_off

    @tell_errors
    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False,
                   **kwargs):
        self.progress.step_started()
        if self.autoassist is not None:  # the plan's loss weights, for the criterion
            weights = self.autoassist.pair_weights(sample["id"])
            if weights is not None:
                sample["pair_weight"] = weights
        try:
            out = super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad,
                                     **kwargs)
        except RuntimeError as e:
            if "out of memory" not in str(e):
                raise
            if getattr(model, "accumulate_grads", False):
                # fairseq's legacy_ddp leaves a no_sync() that an exception interrupts switched
                # on: this rank would never reduce its gradients again, the others would wait
                fail(f"rank {distributed_utils.get_data_parallel_rank()} ran out of memory in an "
                     "--update-freq micro-batch before the last, which fairseq's --ddp-backend "
                     "legacy_ddp cannot recover from (the ranks would wait for each other "
                     "forever): stopping. Lower --max-tokens, or use --ddp-backend pytorch_ddp "
                     "on GPUs")
            if self.autoassist is not None:  # fairseq skips the batch on this rank and goes on;
                criterion.pop_sentence_losses()  # the other ranks still exchange its losses
                self.autoassist.observe(sample["id"], None)
            raise
        out[2][progress.TOKENS_KEY] = 0 if ignore_grad else sample["ntokens"]  # summed over ranks
        if self.autoassist is not None:
            per_sentence = criterion.pop_sentence_losses()
            if ignore_grad:  # a dummy batch: nothing to learn from
                per_sentence = None
            gains = self.autoassist.rolled_source_gains(model, sample, per_sentence, criterion)
            self.autoassist.observe(sample["id"], per_sentence, gains)
        return out

    def reduce_metrics(self, logging_outputs, criterion):
        """fairseq's metrics; and the training steps' target tokens (all ranks') counted into
        the training progress."""
        super().reduce_metrics(logging_outputs, criterion)
        if any(progress.TOKENS_KEY in log for log in logging_outputs):
            self.progress.add_tokens(sum(log.get(progress.TOKENS_KEY, 0) for log in logging_outputs))
