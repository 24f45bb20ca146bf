"""The AutoAssist object: the Assistant, the epoch plans it shapes, and the losses it learns from.

The loop, as fairseq-train drives it (the task and the training iterator talk only to this
object):

* **epoch start** -- the iterator asks :meth:`AutoAssist.plan_epoch`: the keep rule
  (:mod:`rules`) decides with the Assistant's current state which pairs the epoch keeps and with
  which loss weights, and :mod:`plan` packs them into batches; all ranks check that they hold the
  same Assistant and plan.
* **each training step** -- the task's ``train_step`` passes the plan's loss weights to the
  criterion (:meth:`pair_weights`) and the per-sentence losses the criterion computed to
  :meth:`observe`: they are exchanged between ranks (:mod:`ranks`) and the Assistant
  (:mod:`assistant`) learns from them one step later (on a GPU their copy to the host has landed
  by then, so the Boss never waits for it); when training reaches a chunk's trigger, the Assistant
  first learns from every step before it and the chunk is planned again (:mod:`plan`).
* **checkpoints** -- :meth:`state_dict` / :meth:`load_state_dict`, carried in the iterator's state
  (the only state fairseq-train restores).

Everything runs in the training thread, which plans every chunk at its trigger: fairseq's data
loader, reading ahead in its own thread, waits for a chunk it reaches before then
(:meth:`follow_data_loader`); one lock serialises the Assistant and the plan.
"""

import functools
import logging
import os
import pickle
import threading

import numpy as np
import torch

from . import swiftlearn
from .assistant import Assistant
from .corpus import shard_tables
from .options import anneal, fail, read_keep_rates
from .pairs import PairState
from .plan import EpochPlan, PlannedBatches, draws, split_parts
from .ranks import Ranks, unpack
from .records import PlanRecords
from .rules import KeepRule
from .tokens import PairTables

logger = logging.getLogger(__name__)


# seconds fairseq's data loader waits for a chunk to be planned before it gives up
CHUNK_WAIT_SECONDS = 600


class AutoAssist:
    """Built by the task from its config when fairseq-train first asks for the training split's
    iterator; :meth:`use` gives it that iterator's batching and seed; *boss* gives the training's
    model and criterion (for swiftlearn's forward passes)."""

    def __init__(self, cfg, dataset, src_dict, tgt_dict, boss=None):
        self.cfg = cfg
        self.boss = boss  # () -> (model, criterion) of the training: swiftlearn measures with them
        try:
            self.tables = PairTables(dataset)
        except ValueError as e:
            fail(f"the training split {cfg.train_subset!r} of {cfg.data}: {e}")
        self.assistant = build_assistant(cfg, self.tables, len(src_dict), len(tgt_dict),
                                         corpus=shard_tables(cfg, self.tables, src_dict, tgt_dict))
        if cfg.assistant_init:
            try:
                self.assistant.load_state_dict(read_assistant(cfg.assistant_init), model_only=True)
            except ValueError as e:
                fail(f"--assistant-init {cfg.assistant_init}: {e}")
            logger.info("AutoAssist: Assistant initialised from %s", cfg.assistant_init)
        self.dictionaries = (src_dict, tgt_dict)
        self.pairs = PairState(cfg, self.tables, dataset, self.dictionaries)
        self.ranks = Ranks()
        if self.ranks.size > 1 and len(dataset) >= 2 ** 31:
            fail("AutoAssist exchanges pair ids as int32 between ranks: at most "
                 f"2^31 - 1 training pairs, got {len(dataset)}")
        self.random_rates = read_keep_rates(cfg)
        self.records = plan_records(cfg) if self.ranks.rank == 0 else None
        self.chunks = cfg.assistant_plan_chunks
        self.dataset = dataset
        self.batcher = self.seed = self.rule = None  # set by use()
        self.plan = None  # the epoch being trained
        self._pending = []  # steps not yet learned from: (host tensor, CUDA event or None)
        self._checksums = None  # (Assistant, plan) of the plan all ranks agreed on
        self._lock = threading.Lock()  # never re-entered
        self._chunk_planned = threading.Condition(self._lock)  # the data loader waits on it
        self._training_thread = None  # the thread that calls observe
        self.position = None  # batches this rank's training iterator has handed out: follow()
        logger.info(
            "AutoAssist: Assistant on %s features, lr %g, l2 %g; rule %s, scorer %s, base_prob %g, "
            "%d warm-up epoch(s), annealing %g of the epochs", cfg.assistant_features,
            cfg.assistant_lr, cfg.assistant_l2, cfg.assistant_rule, cfg.assistant_scorer,
            cfg.assistant_base_prob, cfg.assistant_warmup_epochs, anneal(cfg))

    def use(self, dataset, batcher, seed):
        """Plan with *batcher* and *seed* (of the training iterator fairseq builds) from now on."""
        with self._lock:
            if dataset is not self.dataset:  # the next shard of sharded data
                self._learn_pending()  # the last steps, on the pairs of the previous shard
                self.dataset, self.tables = dataset, PairTables(dataset)
                self.assistant.new_corpus(len(self.tables))
                self.pairs = PairState(self.cfg, self.tables, dataset, self.dictionaries)
            self.batcher, self.seed = batcher, seed
            self.rule = keep_rule(self.cfg, self.assistant, self.tables, seed,
                                  random_rates=self.random_rates, noise=self.pairs.noise,
                                  importance=self.pairs.importance)

    # ------------------------------------------------------------------ the epoch
    def candidate_batches(self, epoch):
        """Every candidate of *epoch* packed, nothing dropped (fairseq's dummy batch comes from
        them)."""
        return self.batcher(self.dataset, epoch)

    def plan_epoch(self, epoch, restored=None):
        """The plan of *epoch*: the one made already, or a new one (from a checkpoint's
        *restored* plan, see :meth:`load_state_dict`)."""
        with self._lock:
            if restored is None and self.plan is not None and self.plan.epoch == epoch:
                return self.plan
            self._learn_pending()
            if self.records is not None and 0 < self.assistant.epoch < epoch:
                self.records.assistant(self.assistant.epoch, self.assistant.epoch_stats())
            self.assistant.begin_epoch(epoch, len(self.tables))
            self.pairs.begin_epoch(epoch, resumed=restored is not None, measure=functools.partial(
                swiftlearn.measure, self.boss, self.dataset, self.batcher, epoch, self.ranks))
            candidates = self.batcher.candidates(epoch)
            # the random control has its own stream: its draws are independent of AutoAssist's
            stream = (self.seed, epoch, 1) if self.random_rates is not None else (self.seed, epoch)
            self.plan = EpochPlan(
                epoch, candidates, draws(stream, len(candidates)),
                split_parts(self.seed, epoch, len(candidates), self.chunks),
                functools.partial(self.rule.decide, epoch), self.rule.floor(epoch), self.batcher,
                len(self.tables), restored)
            self._checksums = self._agree()
            if restored is None and self.plan.complete and self.records is not None:
                self.records.complete(self.plan)
            return self.plan

    def _agree(self):
        """All ranks check that they hold the same Assistant and plan; the checksums are logged
        and returned for the plan's record."""
        checks = (self.pairs.checksum(self.assistant.checksum()), self.plan.digest())
        self.ranks.check_same(self.plan.epoch, *checks, self.plan.total)
        logger.info("AutoAssist epoch %d: Assistant checksum %08x, plan checksum %08x, %d batches, "
                    "identical on all %d rank(s)", self.plan.epoch, *checks, self.plan.total,
                    self.ranks.size)
        return checks

    def epoch_started(self):
        """Training of the planned epoch begins: log and record its plan."""
        with self._lock:
            self.plan.log()
            if self.records is not None:
                self.records.plan(self.plan, self.plan.restored, *self._checksums,
                                  self.ranks.size)

    def ordered_batches(self, trained, shuffle, shards, shard):
        """The epoch's batches for this rank's data loader, *trained* batches (all ranks) into the
        epoch; None when the epoch has one chunk (fairseq then shuffles and shards it)."""
        with self._lock:
            self.plan.trained = trained
            for k in self.plan.due(trained):  # a resumed epoch: chunks due before the checkpoint
                self._plan_chunk(k, f"at batch {trained}")
        if self.chunks == 1:
            return None
        return PlannedBatches(self.plan, functools.partial(self.follow_data_loader, self.plan),
                              self.seed, shuffle, shards, shard)

    def follow(self, position):
        """Count training progress with *position*: a function giving the batches this rank's
        training iterator has handed out in the epoch (a retried step, a skipped micro-batch and
        a resume leave it where an uninterrupted run has it)."""
        self.position = position

    def follow_data_loader(self, plan, k):
        """Chunk *k*'s batches, for the data loader: a chunk not planned yet is waited for (the
        training thread plans it at its trigger), so that every rank plans it after the same
        batches."""
        with self._chunk_planned:
            # an exception, not fail(): fairseq's read-ahead thread hands exceptions to training
            if plan.planned <= k and threading.get_ident() == self._training_thread:
                raise RuntimeError(self._chunk_stall(plan, k, "the training thread asked for it"))
            if not self._chunk_planned.wait_for(lambda: plan.planned > k or plan is not self.plan,
                                                timeout=CHUNK_WAIT_SECONDS):
                raise RuntimeError(self._chunk_stall(
                    plan, k, f"the data loader waited {CHUNK_WAIT_SECONDS} s for it"))
            return plan.chunk_batches(k) if plan.planned > k else []

    @staticmethod
    def _chunk_stall(plan, k, what):
        return (f"AutoAssist epoch {plan.epoch}: chunk {k + 1} is planned when training reaches batch "
                f"{plan.triggers[k]} (all ranks), and {what} at batch {plan.trained}, before it "
                f"could be planned: a chunk's batches per rank are fewer than twice --update-freq "
                f"(fairseq groups --update-freq batches before it trains them). Fewer, larger "
                f"chunks (--assistant-plan-chunks) or a smaller --update-freq avoid it")

    def _plan_chunk(self, k, when, plan=None):
        """Plan chunk *k* (in the training thread, under the lock, after the same batches on
        every rank); the ranks check they planned the same."""
        plan = self.plan if plan is None else plan
        kept, pairs, rule_kept, changed, batches = plan.plan_chunk(
            k, functools.partial(self.rule.decide, plan.epoch))
        checks = (self.pairs.checksum(self.assistant.checksum()), plan.digest())
        self.ranks.check_same(plan.epoch, *checks, plan.total)
        logger.info(
            "AutoAssist epoch %d chunk %d/%d planned %s: kept %d of %d pairs (the rule alone "
            "keeps %d; %d decisions changed since the epoch start), %d batches; Assistant "
            "checksum %08x, plan checksum %08x, identical on all %d rank(s)",
            plan.epoch, k + 1, len(plan.parts), when, kept, pairs, rule_kept, changed, batches,
            *checks, self.ranks.size)
        if self.records is not None:
            self.records.chunk(plan, k, when, kept, pairs, rule_kept, changed, batches, *checks)
            if plan.complete:
                self.records.complete(plan)
        self._chunk_planned.notify_all()

    # ------------------------------------------------------------------ each training step
    def pair_weights(self, ids):
        """The plan's loss weights of the pairs *ids* (a tensor on their device), or None when
        every weight is 1."""
        with self._lock:
            return None if self.plan is None else self.plan.pair_weights(ids)

    def rolled_source_gains(self, model, sample, per_sentence, criterion):
        """skip-noise: this rank's rolled-source gains of the step (:mod:`noise_rule`), or
        None."""
        return self.pairs.measure(self.plan.epoch, model, sample, per_sentence, criterion)

    def observe(self, ids, per_sentence, gains=None):
        """One training step of this rank: its batch's pair *ids* and the criterion's (summed
        loss, target tokens) per sentence, or None for fairseq's dummy batch; *gains*: its
        :meth:`rolled_source_gains`. Every rank calls it every step (the ranks exchange their
        losses)."""
        self.pairs.exchange(self.plan.epoch, self.ranks, gains, self.plan.max_pairs,
                            self._lock)
        if self.ranks.size > 1:
            if per_sentence is None:
                ids, per_sentence = torch.zeros(0, dtype=torch.int64), (torch.zeros(0),) * 2
            step = self.ranks.gather(ids, *per_sentence, Ranks.rounds(self.plan.max_pairs))
        elif per_sentence is not None:
            losses, ntokens = per_sentence
            step = torch.stack([ids.to(torch.float64), losses.detach().to(torch.float64),
                                ntokens.to(torch.float64)])
        else:
            step = None
        with self._lock:
            self._training_thread = threading.get_ident()
            self._learn_pending()  # the previous step's
            if step is not None:
                self._pending.append(_to_host(step))
            plan = self.plan
            # batches handed to training on every rank (the ranks' iterators run in step)
            plan.trained = self.position() * self.ranks.size
            due = plan.due(plan.trained)
            if due:
                self._learn_pending()
                for k in due:
                    self._plan_chunk(k, f"after batch {plan.trained}")

    def _learn_pending(self):
        for step, event in self._pending:
            if event is not None:
                event.synchronize()
            if self.ranks.size > 1:
                batches = unpack(step.numpy())  # in rank order
            else:
                ids, losses, ntokens = step.numpy()
                batches = [(ids.astype(np.int64), losses, ntokens)]
            for ids, losses, ntokens in batches:
                self.assistant.learn(self.tables, ids, losses, ntokens)
                self.pairs.learn(self.plan.epoch, ids, losses, ntokens)
        self._pending.clear()

    # ------------------------------------------------------------------ reporting, checkpoints
    def epoch_stats(self):
        """The plan as trained so far and the Assistant's accuracy and AUC this epoch."""
        with self._lock:
            self._learn_pending()
            return {**self.plan.stats(), **self.assistant.epoch_stats(), **self.pairs.stats()}

    def state_dict(self, mid_epoch):
        """The Assistant, and with *mid_epoch* the interrupted epoch's plan (tensors and numbers
        only: loadable with ``weights_only``)."""
        with self._lock:
            self._learn_pending()
            state = {"assistant": self.assistant.state_dict(), "keep_epoch": -1}
            state.update(self.pairs.state_dict())
            if mid_epoch and self.plan is not None:
                state.update(self.plan.state_dict())
            return state

    def load_state_dict(self, state):
        """Restore the Assistant; return the interrupted epoch's saved plan (for
        :meth:`plan_epoch`), or None."""
        with self._lock:
            self._pending.clear()
            self.assistant.load_state_dict(state["assistant"])
            try:
                self.pairs.load_state_dict(state)
            except ValueError as e:
                fail(str(e))
            self.plan = None
            return state if state["keep_epoch"] >= 0 else None


def _to_host(step):
    """(*step* on the host, CUDA event or None): a GPU tensor is copied without blocking into
    pinned memory; the event says when the copy has landed."""
    if not step.is_cuda:
        return step, None
    host = torch.empty(step.shape, dtype=step.dtype, pin_memory=True)
    host.copy_(step, non_blocking=True)
    event = torch.cuda.Event()
    event.record()
    return host, event


# ---------------------------------------------------------------------- from the task's config
def build_assistant(cfg, tables, src_vocab, tgt_vocab, **overrides):
    """The Assistant of the task config *cfg* on the corpus of *tables* (*overrides*: arguments
    of :class:`assistant.Assistant` set otherwise, e.g. ``frozen=True``)."""
    return Assistant(tables, src_vocab, tgt_vocab, **{**dict(
        features=cfg.assistant_features, lr=cfg.assistant_lr, l2=cfg.assistant_l2,
        warmup_epochs=cfg.assistant_warmup_epochs, mean=cfg.assistant_mean,
        mean_decay=cfg.assistant_mean_decay, frozen=cfg.assistant_freeze,
        track_pairs=cfg.assistant_scorer == "last-loss" or cfg.assistant_rule == "skip-hard",
        hard_fraction=cfg.assistant_hard_fraction), **overrides})


def keep_rule(cfg, assistant, tables, seed, **overrides):
    """The keep rule of the task config *cfg* (*overrides*: arguments of :class:`rules.KeepRule`
    set otherwise, e.g. the random control's ``random_rates``)."""
    return KeepRule(assistant, tables, **{**dict(
        rule=cfg.assistant_rule, scorer=cfg.assistant_scorer, base_prob=cfg.assistant_base_prob,
        warmup_epochs=cfg.assistant_warmup_epochs, prune_ratio=cfg.assistant_prune_ratio,
        reweight=cfg.assistant_reweight, reweight_max=cfg.assistant_reweight_max,
        hard_streak=cfg.assistant_hard_streak, anneal=anneal(cfg), max_epoch=cfg.max_epoch,
        seed=seed), **overrides})


def read_assistant(path):
    """The Assistant's state in a checkpoint of an autoassist_translation run."""
    if not os.path.isfile(path):
        raise ValueError("no such file")
    try:
        return saved_assistant(torch.load(path, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError, pickle.UnpicklingError) as e:
        raise ValueError(f"not a checkpoint of an autoassist_translation run with an Assistant "
                         f"({type(e).__name__}: {e})") from e


def saved_assistant(checkpoint, part="assistant"):
    """The Assistant's state in a loaded checkpoint (it rides in the training iterator's state),
    or another *part* of AutoAssist's state there (``"history"``: the loss history, None when the
    run kept none)."""
    try:
        state = checkpoint["extra_state"]["train_iterator"]["autoassist"]
        return state.get(part) if part != "assistant" else state["assistant"]
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a checkpoint of an autoassist_translation run with an Assistant "
                         f"({type(e).__name__}: {e})") from e


def plan_records(cfg):
    """The plan records of --assistant-plan-dir (with the kept ids), else in --save-dir."""
    if cfg.assistant_plan_dir:
        return PlanRecords(cfg.assistant_plan_dir, kept_ids=True)
    if cfg.no_save or not cfg.save_dir:
        return None
    return PlanRecords(cfg.save_dir)
