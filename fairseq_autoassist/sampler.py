"""Which pairs each epoch trains on, with which loss weights, and how they are packed into batches.

AutoAssist's batch generator (paper Sec. 3.2): the keep rule (:mod:`rules`, ``--assistant-rule``)
gives each candidate pair a keep probability ``k_i`` and a loss weight; one uniform draw ``u_i``
per pair and epoch keeps it iff ``u_i < k_i`` (for the paper's rule ``k_i = p + (1 - p) q_i``,
``p = max(base_prob, 1 - confidence)``, ``q_i`` the Assistant's probability that the pair is
hard). The kept pairs are packed into token-bucketed batches exactly as fairseq packs a full
epoch, so batches stay full and the epoch simply has fewer of them; their weights travel with the
plan, by pair id, to the criterion.

fairseq fixes an epoch's length when the epoch starts. With ``--assistant-plan-chunks 1`` (the
default) the whole epoch is planned then, with the Assistant's state at the epoch boundary. With
``N > 1`` the epoch's candidates are split at random into N chunks trained one after the other;
at the epoch start every chunk is planned with the rule above, which fixes each chunk's number of
batches (its budget) and so the epoch's length, and chunk *k > 1* is planned again when half of
chunk *k - 1* has been trained, with the Assistant's state at that point (see :func:`fit`). This
departs from one draw per pair and epoch in one way: the draw ``u_i`` is still made once, at the
epoch start, but the threshold it is compared with is the Assistant's later one, and the chunk's
pairs are then ranked by ``k_i - u_i`` and the top of the ranking fills the budget
exactly, so a chunk whose kept pairs need more (fewer) batches than budgeted loses its
lowest-ranked kept pairs (gains its highest-ranked dropped ones).
"""

import logging
import threading

import numpy as np
import torch
from fairseq.data import data_utils

from .ranks import Ranks, checksum
from .rules import KeepRule, paper_keep_prob

logger = logging.getLogger(__name__)


def draws(rng_seed, n):
    """The epoch's uniform draws ``u_i ~ U(0, 1)``, one per candidate pair."""
    return np.random.default_rng(rng_seed).random(n)


def keep_mask(rng_seed, p_floor, q):
    """The paper's rule applied with the draws of *rng_seed*: what the planner decides for a whole
    epoch."""
    return draws(rng_seed, len(q)) < paper_keep_prob(p_floor, q)


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

    def max_pairs(self, indices):
        """A bound on the pairs in any batch of *indices* (a batch's padded size stays within
        ``--max-tokens``, and ``--max-sentences`` caps it)."""
        n = len(indices)
        if self.max_sentences:
            n = min(n, int(self.max_sentences))
        if self.max_tokens and len(indices):
            try:
                sizes = self.dataset.num_tokens_vec(indices)
            except NotImplementedError:
                sizes = np.fromiter(map(self.dataset.num_tokens, indices), dtype=np.int64)
            shortest = int(sizes.min())
            n = min(n, int(self.max_tokens) // max(shortest, 1))
        return max(n, 1)

    def split_to(self, batches, budget):
        """*batches* with the largest ones halved until there are *budget* of them (halves of a
        batch under the token limit stay under it)."""
        batches = list(batches)
        while len(batches) < budget:
            big = max(range(len(batches)), key=lambda i: len(batches[i]), default=None)
            if big is None or len(batches[big]) < 2:
                raise ValueError(f"cannot make {budget} batches of {sum(map(len, batches))} pairs")
            b = batches[big]
            batches[big:big + 1] = [b[:len(b) // 2], b[len(b) // 2:]]
        return batches


def fit(batcher, candidates, margin, budget):
    """Exactly *budget* batches of the pairs of *candidates* ranked highest by *margin*.

    The rule keeps the pairs with ``margin > 0``. If they pack into more batches than *budget*, the
    lowest-margin ones are left out; into fewer, the highest-margin dropped ones are added; the
    cut is found by interpolation search over the packing (fairseq's ``batch_by_size``), and a
    last shortfall of batches (packing is not exactly monotone) is made up by halving the largest.
    *candidates* keep their (length-sorted) order within the selection.
    """
    order = np.argsort(-margin, kind="stable")
    counts = {0: 0}

    def select(n):
        chosen = np.zeros(len(candidates), dtype=bool)
        chosen[order[:n]] = True
        return candidates[chosen]

    def count(n):
        if n not in counts:
            counts[n] = len(batcher.pack(select(n)))
        return counts[n]

    n = int((margin > 0).sum())
    if count(n) <= budget:
        lo, hi = n, len(candidates)
    else:
        lo, hi = 0, n
    if count(hi) <= budget:
        lo = hi
    bisect = False
    while hi - lo > 1:  # count(lo) <= budget < count(hi)
        if bisect:
            mid = (lo + hi) // 2
        else:  # interpolate: the number of batches grows about linearly with the pairs
            mid = lo + int((hi - lo) * (budget + 0.5 - count(lo)) / (count(hi) - count(lo)))
        mid = min(max(mid, lo + 1), hi - 1)
        bisect = not bisect
        if count(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return batcher.split_to(batcher.pack(select(lo)), budget)


class EpochPlanner:
    """Plans epochs: candidates, draws, the keep decisions and weights of the rule, the batches.

    *base_prob*, *warmup_epochs*, *random_rates* and *rule_options* (``rule``, ``scorer``,
    ``prune_ratio``, ...) define the :class:`rules.KeepRule`; with *random_rates* (epoch -> keep
    rate) it is the random control that shows whether the Assistant's choices matter. *chunks* is
    ``--assistant-plan-chunks``. Of the data-parallel *ranks* (:class:`ranks.Ranks`), each trains
    every ``ranks.size``-th batch of the plan, all in step: one step is ``ranks.size`` batches.
    *records* (:class:`records.PlanRecords`, or None: only the first rank writes them) receives
    the plans' events (start, chunks, complete).
    """

    def __init__(self, batcher, tables, assistant, feed, base_prob, warmup_epochs, seed,
                 random_rates=None, chunks=1, ranks=None, records=None, **rule_options):
        self.batcher = batcher
        self.tables = tables
        self.assistant = assistant
        self.feed = feed
        self.seed = seed
        self.random_rates = random_rates
        self.rule = KeepRule(assistant, tables, base_prob=base_prob, warmup_epochs=warmup_epochs,
                             random_rates=random_rates, seed=seed, **rule_options)
        self.chunks = chunks
        self.ranks = ranks if ranks is not None else Ranks()
        self.shards = self.ranks.size
        self.records = records
        self.current = None  # the EpochPlan being trained

    def keep_floor(self, epoch):
        return self.rule.floor(epoch)

    def decide(self, epoch, ids):
        """(keep probability, weight if kept) of the pairs *ids*, with the Assistant's state as
        of now."""
        return self.rule.decide(epoch, ids)

    def stream(self, epoch):
        # the random control has its own stream: its draws are independent of AutoAssist's
        return (self.seed, epoch, 1) if self.random_rates is not None else (self.seed, epoch)

    def parts(self, epoch, n):
        """Positions 0..n-1 split at random into ``chunks`` near-equal parts, each ascending."""
        if self.chunks == 1:
            return [np.arange(n)]
        label = np.empty(n, dtype=np.int64)
        label[draws((self.seed, epoch, 2), n).argsort(kind="stable")] = (
            np.arange(n) * self.chunks // max(n, 1))
        order = np.argsort(label, kind="stable")
        bounds = np.searchsorted(label[order], np.arange(1, self.chunks))
        return np.split(order, bounds)

    def plan(self, epoch, restored=None):
        """The :class:`EpochPlan` of *epoch*; *restored* is an interrupted epoch's saved state."""
        self.feed.drain()
        self.assistant.begin_epoch(epoch, len(self.tables))
        candidates = self.batcher.candidates(epoch)
        plan = EpochPlan(self, epoch, candidates, draws(self.stream(epoch), len(candidates)),
                         self.parts(epoch, len(candidates)), restored)
        self.current = plan
        return plan

    def record(self, event, plan, *args):
        """Append *event* of *plan* to the plan records (:mod:`records`), if this rank has them."""
        if self.records is not None:
            getattr(self.records, event)(plan, *args)

    def batch_done(self):
        """One more step of the current plan trained: one batch on every rank (their losses are
        in the feed)."""
        if self.current is not None:
            self.current.batch_done(self.shards)


class EpochPlan:
    """One epoch: its chunks, their batch budgets, the batches of the chunks planned so far.

    Chunk 0 is planned at the epoch start; chunk *k* when half of chunk *k - 1* has been trained
    (its planning is queued behind the losses of exactly those batches, so the Assistant's state it
    sees does not depend on timing), or earlier if the data loader asks for it first (logged).
    """

    def __init__(self, planner, epoch, candidates, u, parts, restored=None):
        self.planner = planner
        self.epoch = epoch
        self.candidates = candidates
        self.u = u
        self.parts = parts
        self.floor = planner.keep_floor(epoch)
        self.trained = 0  # batches of this epoch whose losses were handed over
        self._batches = []  # of the planned chunks
        self._weight_version = 0  # bumped whenever weights change (a chunk re-planned)
        self._weight_tensor = None  # (version, device, tensor) for the criterion
        self._lock = threading.Condition(threading.RLock())
        self._error = None
        self.note = ""
        self._stats = None  # (chunks planned, stats) of the last stats() call
        batcher, n_pairs = planner.batcher, len(planner.tables)
        if restored is not None:
            self.keep = restored["keep"]
            self.weight = restored.get("weight")
            if self.weight is None or len(self.weight) != n_pairs:
                self.weight = np.ones(n_pairs, dtype=np.float32)
            budgets = restored["budgets"]
            if budgets is None:  # a checkpoint written before chunked planning (one chunk)
                budgets = [len(batcher.pack(candidates[p][self.keep[candidates[p]]])) for p in parts]
            self.budgets = [int(b) for b in budgets]
            for k in range(int(restored["planned"])):
                ids = candidates[parts[k]]
                self._batches.append(batcher.split_to(batcher.pack(ids[self.keep[ids]]),
                                                      self.budgets[k]))
        else:
            self.keep = np.zeros(n_pairs, dtype=bool)
            self.weight = np.ones(n_pairs, dtype=np.float32)  # loss weight of each kept pair
            keep_prob, weight = planner.decide(epoch, candidates)
            self.keep[candidates] = self.u < keep_prob
            self.weight[candidates] = weight
            if len(candidates) and not self.keep[candidates].any():
                self.keep[batcher.pack(candidates)[0]] = True
                self.note = " (the plan kept no pair: training one batch)"
            packed = [batcher.pack(candidates[p][self.keep[candidates[p]]]) for p in parts]
            self.budgets = [len(b) for b in packed]
            self._batches.append(packed[0])
        ends = np.cumsum(self.budgets)
        self.starts = ends - self.budgets
        # chunk k >= 1 is planned once half of chunk k - 1 has been trained
        self.triggers = [0] + [int(s + b // 2) for s, b in zip(self.starts[:-1], self.budgets[:-1])]
        self.total = int(ends[-1]) if len(ends) else 0
        self.max_pairs = batcher.max_pairs(candidates)  # no batch of any chunk plan is larger
        self.restored = restored is not None
        if restored is None and self.planned == len(parts):
            planner.record("complete", self)

    # ------------------------------------------------------------------ planning
    @property
    def planned(self):
        return len(self._batches)

    def _plan_chunk(self, k, why):
        """Plan chunk *k*, and any unplanned chunk before it, with the Assistant's state as of
        now."""
        while self.planned <= k:
            self._plan_next(self.planned, why)

    def _plan_next(self, k, why):
        """Plan chunk *k* (the next one). The work runs outside the lock, so the Boss's
        :meth:`batch_done` never waits for it."""
        try:
            ids = self.candidates[self.parts[k]]
            keep_prob, weight = self.planner.decide(self.epoch, ids)
            margin = keep_prob - self.u[self.parts[k]]
            batches = fit(self.planner.batcher, ids, margin, self.budgets[k])
        except BaseException as e:
            with self._lock:
                self._error = e
                self._lock.notify_all()
            raise
        with self._lock:
            if k < self.planned:  # planned meanwhile by the other thread
                return
            before = self.keep[ids].copy()
            self.keep[ids] = False
            if batches:
                self.keep[np.concatenate(batches)] = True
            self.weight[ids] = weight
            self._weight_version += 1
            self._batches.append(batches)
            complete = self.planned == len(self.parts)
            self._lock.notify_all()
        kept, rule_kept = int(self.keep[ids].sum()), int((margin > 0).sum())
        changed = int((self.keep[ids] != before).sum())
        logger.info(
            "AutoAssist epoch %d chunk %d/%d planned %s: kept %d of %d pairs (the rule alone "
            "keeps %d; %d decisions changed since the epoch start), %d batches",
            self.epoch, k + 1, len(self.parts), why, kept, len(ids), rule_kept, changed,
            len(batches))
        self.planner.record("chunk", self, k, why, kept, len(ids), rule_kept, changed,
                            len(batches))
        if complete:
            self.planner.record("complete", self)

    def start_counting(self, trained):
        """Set the number of batches already trained (a resumed epoch starts past 0; all ranks'
        batches count)."""
        with self._lock:
            self.trained = trained
        for k in range(self.planned, len(self.parts)):
            if self.triggers[k] <= trained:
                self._plan_chunk(k, f"at batch {trained}")

    def batch_done(self, batches=1):
        with self._lock:
            before, self.trained = self.trained, self.trained + batches
            due = [k for k in range(self.planned, len(self.parts))
                   if before < self.triggers[k] <= self.trained]
        for k in due:  # queued behind the losses of the batches trained so far
            self.planner.feed.call(self._plan_chunk, k, f"after batch {self.trained}")

    def chunk_batches(self, k):
        """The batches of chunk *k*, planned (or waited for) when first asked."""
        with self._lock:
            while k >= self.planned:
                if self._error is not None:
                    raise RuntimeError("AutoAssist: planning a chunk failed") from self._error
                if self.trained >= self.triggers[k]:
                    self.planner.feed.check()  # a failed feed will never plan it
                    self._lock.wait(timeout=1.0)  # its planning is queued in the feed
                else:
                    logger.warning(
                        "AutoAssist epoch %d: the data loader reached chunk %d after %d of the %d "
                        "batches due before it was planned; planning it now (a resume from a "
                        "checkpoint in between may plan it differently). Fewer, larger chunks, "
                        "a smaller --data-buffer-size or --update-freq avoid this.",
                        self.epoch, k + 1, self.trained, self.triggers[k])
                    self._plan_chunk(k, f"early, at batch {self.trained}")
            return self._batches[k]

    # ------------------------------------------------------------------ views
    def frozen(self):
        """Batches of the epoch as planned so far (the start plan's budgets for the rest); fairseq
        takes the epoch's length from them."""
        out = [b for batches in self._batches for b in batches]
        return out + [np.zeros(0, dtype=np.int64)] * (self.total - len(out))

    def ordered(self, shuffle, shards=1, shard=0):
        """The epoch's batches in training order, chunk after chunk, each chunk's batches shuffled
        (seeded) when *shuffle*; a lazy sequence that fairseq's data loader walks through. Of
        *shards* ranks, rank *shard* takes every *shards*-th batch from the *shard*-th on, and
        empty batches (fairseq's dummy batch) when the plan runs out, as fairseq shards."""
        return PlannedBatches(self, shuffle, shards, shard)

    def pair_weights(self, ids):
        """Loss weights of the pairs *ids* (a tensor, on its device; no host synchronisation),
        or None when every weight of the plan is 1."""
        with self._lock:
            cached = self._weight_tensor
            if cached is None or cached[:2] != (self._weight_version, ids.device):
                weight = None
                if (self.weight != 1.0).any():
                    weight = torch.from_numpy(self.weight).to(ids.device)
                cached = self._weight_tensor = (self._weight_version, ids.device, weight)
        return None if cached[2] is None else cached[2][ids]

    def stats(self):
        """The plan as it stands (chunks planned so far); recomputed only when a chunk is added,
        since fairseq's epoch line asks for it once per metric."""
        if self._stats is not None and self._stats[0] == self.planned:
            return self._stats[1]
        planned = self.planned
        kept = self.candidates[self.keep[self.candidates]]
        stats = {
            "candidates": len(self.candidates),
            "kept_pairs": len(kept),
            "keep_rate": len(kept) / max(len(self.candidates), 1),
            "kept_tokens": int(self.planner.tables.tgt.sizes[kept].sum()),
            "keep_floor": self.floor,
            "weight_mean": float(self.weight[kept].mean()) if len(kept) else 1.0,
            "batches": self.total,
        }
        self._stats = (planned, stats)
        return stats

    def digest(self):
        """CRC-32 of the kept pairs and the batch budgets (equal on all ranks)."""
        with self._lock:
            return checksum(self.keep, self.budgets, self.weight)

    def log(self):
        s = self.stats()
        chunks = ""
        if len(self.parts) > 1:
            chunks = (f" in {len(self.parts)} chunks of {', '.join(map(str, self.budgets))} "
                      f"batches, re-planned as training goes")
        logger.info(
            "AutoAssist epoch %d plan: kept %d of %d pairs (keep_rate %.4f, floor p=%.3f), "
            "%d target tokens, %d batches%s%s",
            self.epoch, s["kept_pairs"], s["candidates"], s["keep_rate"], s["keep_floor"],
            s["kept_tokens"], s["batches"], chunks, self.note)

    def state(self):
        with self._lock:
            return {"epoch": self.epoch, "keep": self.keep.copy(), "weight": self.weight.copy(),
                    "budgets": list(self.budgets), "planned": self.planned}


class PlannedBatches:
    """A fixed-length sequence of an epoch's batches (of one rank's shard) whose chunks are planned
    when reached, for fairseq's ``FrozenBatchSampler`` (which only takes ``len``, ``[offset:]``
    and iterates)."""

    def __init__(self, plan, shuffle, shards=1, shard=0, offset=0):
        self.plan = plan
        self.shuffle = shuffle
        self.shards = shards
        self.shard = shard
        self.offset = offset  # batches of this shard already trained

    def __len__(self):
        return -(-self.plan.total // self.shards) - self.offset

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1) or key.stop is not None:
            raise TypeError("PlannedBatches only supports [offset:]")
        return PlannedBatches(self.plan, self.shuffle, self.shards, self.shard,
                              self.offset + (key.start or 0))

    def __iter__(self):
        plan = self.plan
        first = self.offset * self.shards + self.shard  # this shard's next batch in the plan
        for k, (start, budget) in enumerate(zip(plan.starts, plan.budgets)):
            if start + budget <= first or budget == 0:
                continue
            batches = plan.chunk_batches(k)
            order = np.arange(len(batches))
            if self.shuffle:
                order = np.random.default_rng((plan.planner.seed, plan.epoch, 3, k)).permutation(order)
            skip = max(first - start, 0)
            for i in order[skip::self.shards]:
                yield batches[i]
            first = start + skip + -(-(budget - skip) // self.shards) * self.shards
        for _ in range(max(first, plan.total), -(-plan.total // self.shards) * self.shards,
                       self.shards):
            yield np.zeros(0, dtype=np.int64)
