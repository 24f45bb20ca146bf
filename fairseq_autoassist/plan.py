"""Epoch plans: which pairs an epoch trains on, with which loss weights, packed into which batches.

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
chunk *k - 1* has been trained, with the Assistant's state at that point (see :func:`fit`;
:mod:`autoassist` decides when). This
departs from one draw per pair and epoch in one way: the draw ``u_i`` is still made once, at the
epoch start, but the threshold it is compared with is the Assistant's later one, and the chunk's
pairs are then ranked by ``k_i - u_i`` and the top of the ranking fills the budget
exactly, so a chunk whose kept pairs need more (fewer) batches than budgeted loses its
lowest-ranked kept pairs (gains its highest-ranked dropped ones).
"""

import logging

import numpy as np
import torch
from fairseq.data import data_utils

from .ranks import checksum

logger = logging.getLogger(__name__)


def draws(rng_seed, n):
    """The epoch's uniform draws ``u_i ~ U(0, 1)``, one per candidate pair."""
    return np.random.default_rng(rng_seed).random(n)


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


def split_parts(seed, epoch, n, chunks):
    """Positions 0..n-1 split at random into *chunks* near-equal parts, each ascending."""
    if chunks == 1:
        return [np.arange(n)]
    label = np.empty(n, dtype=np.int64)
    label[draws((seed, epoch, 2), n).argsort(kind="stable")] = np.arange(n) * chunks // max(n, 1)
    order = np.argsort(label, kind="stable")
    return np.split(order, np.searchsorted(label[order], np.arange(1, chunks)))


class EpochPlan:
    """One epoch: its candidates, their draws, chunks and batch budgets, the keep decisions and
    loss weights, the batches of the chunks planned so far.

    Built at the epoch start (chunk 0 planned, every chunk's budget fixed by the rule's decisions
    then) or from a checkpoint's saved state (*restored*). *decide* gives (keep probability,
    weight if kept) of pair ids with the Assistant's state when it is called. Chunk *k* is planned
    again by :meth:`plan_chunk` when its :attr:`triggers` batch has been trained
    (:class:`autoassist.AutoAssist` calls it). Not thread-safe: its owner serialises the calls.
    """

    def __init__(self, epoch, candidates, u, parts, decide, floor, batcher, n_pairs, restored=None):
        self.epoch = epoch
        self.candidates = candidates
        self.u = u
        self.parts = parts
        self.floor = floor
        self.batcher = batcher
        self.restored = restored is not None
        self.trained = 0  # batches of this epoch trained (all ranks)
        self.note = ""
        self._batches = []  # of the planned chunks
        self._weights = None  # (device, tensor) of the loss weights for the criterion
        self._stats = None  # (chunks planned, stats) of the last stats() call
        if restored is not None:
            self.keep = restored["keep"].numpy().copy()
            self.weight = restored["weight"].numpy().copy()
            self.budgets = restored["budgets"].tolist()
            for k in range(int(restored["planned"])):
                ids = candidates[parts[k]]
                self._batches.append(batcher.split_to(batcher.pack(ids[self.keep[ids]]),
                                                      self.budgets[k]))
        else:
            self.keep = np.zeros(n_pairs, dtype=bool)
            self.weight = np.ones(n_pairs, dtype=np.float32)  # loss weight of each kept pair
            keep_prob, weight = decide(candidates)
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
        # chunk k >= 1 is planned again once half of chunk k - 1 has been trained
        self.triggers = [0] + [int(s + b // 2) for s, b in zip(self.starts[:-1], self.budgets[:-1])]
        self.total = int(ends[-1]) if len(ends) else 0
        self.max_pairs = batcher.max_pairs(candidates)  # no batch of any chunk plan is larger

    # ------------------------------------------------------------------ planning
    @property
    def planned(self):
        return len(self._batches)

    @property
    def complete(self):
        return self.planned == len(self.parts)

    def due(self, trained):
        """Unplanned chunks whose trigger lies at or before *trained* batches."""
        return [k for k in range(self.planned, len(self.parts)) if self.triggers[k] <= trained]

    def plan_chunk(self, k, decide):
        """Plan chunk *k* (the next unplanned one) with *decide* as of now; returns what it did:
        (kept, pairs, kept by the rule alone, decisions changed since the epoch start, batches)."""
        assert k == self.planned, (k, self.planned)
        ids = self.candidates[self.parts[k]]
        keep_prob, weight = decide(ids)
        margin = keep_prob - self.u[self.parts[k]]
        batches = fit(self.batcher, ids, margin, self.budgets[k])
        before = self.keep[ids].copy()
        self.keep[ids] = False
        if batches:
            self.keep[np.concatenate(batches)] = True
        self.weight[ids] = weight
        self._weights = None
        self._batches.append(batches)
        return (int(self.keep[ids].sum()), len(ids), int((margin > 0).sum()),
                int((self.keep[ids] != before).sum()), len(batches))

    def chunk_batches(self, k):
        return self._batches[k]

    # ------------------------------------------------------------------ views
    def length_batches(self):
        """Batches of the epoch as planned so far (the start plan's budgets for the rest); fairseq
        takes the epoch's length from them."""
        out = [b for batches in self._batches for b in batches]
        return out + [np.zeros(0, dtype=np.int64)] * (self.total - len(out))

    def pair_weights(self, ids):
        """Loss weights of the pairs *ids* (a tensor, on its device; no host synchronisation),
        or None when every weight of the plan is 1."""
        if self._weights is None or self._weights[0] != ids.device:
            weight = None
            if (self.weight != 1.0).any():
                weight = torch.from_numpy(self.weight).to(ids.device)
            self._weights = (ids.device, weight)
        weight = self._weights[1]
        return None if weight is None else weight[ids]

    def stats(self):
        """The plan as it stands (chunks planned so far); recomputed only when a chunk is added,
        since fairseq's epoch line asks for it once per metric."""
        if self._stats is not None and self._stats[0] == self.planned:
            return self._stats[1]
        kept = self.candidates[self.keep[self.candidates]]
        stats = {
            "candidates": len(self.candidates),
            "kept_pairs": len(kept),
            "keep_rate": len(kept) / max(len(self.candidates), 1),
            "kept_tokens": int(self.batcher.dataset.tgt_sizes[kept].sum()),
            "keep_floor": self.floor,
            "weight_mean": float(self.weight[kept].mean()) if len(kept) else 1.0,
            "batches": self.total,
        }
        self._stats = (self.planned, stats)
        return stats

    def digest(self):
        """CRC-32 of the kept pairs, the batch budgets and the weights (equal on all ranks)."""
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

    def state_dict(self):
        """The plan as a checkpoint keeps it (the *restored* argument of a new plan)."""
        return {"keep_epoch": self.epoch, "keep": torch.from_numpy(self.keep.copy()),
                "weight": torch.from_numpy(self.weight.copy()),
                "budgets": torch.tensor(self.budgets, dtype=torch.int64), "planned": self.planned}


class PlannedBatches:
    """A fixed-length sequence of an epoch's batches (of one rank's shard) whose chunks are planned
    when reached, for fairseq's ``FrozenBatchSampler`` (which only takes ``len``, ``[offset:]``
    and iterates). *chunk_batches(k)* gives chunk *k*'s batches, waiting until it is planned."""

    def __init__(self, plan, chunk_batches, seed, shuffle, shards=1, shard=0, offset=0):
        self.plan = plan
        self.chunk_batches = chunk_batches
        self.seed = seed
        self.shuffle = shuffle
        self.shards = shards
        self.shard = shard
        self.offset = offset  # batches of this shard already trained

    def __len__(self):
        return -(-self.plan.total // self.shards) - self.offset

    def __getitem__(self, key):
        if not isinstance(key, slice) or key.step not in (None, 1) or key.stop is not None:
            raise TypeError("PlannedBatches only supports [offset:]")
        return PlannedBatches(self.plan, self.chunk_batches, self.seed, self.shuffle, self.shards,
                              self.shard, self.offset + (key.start or 0))

    def __iter__(self):
        plan = self.plan
        first = self.offset * self.shards + self.shard  # this shard's next batch in the plan
        for k, (start, budget) in enumerate(zip(plan.starts, plan.budgets)):
            if start + budget <= first or budget == 0:
                continue
            batches = self.chunk_batches(k)
            order = np.arange(len(batches))
            if self.shuffle:
                order = np.random.default_rng((self.seed, plan.epoch, 3, k)).permutation(order)
            skip = max(first - start, 0)
            for i in order[skip::self.shards]:
                yield batches[i]
            first = start + skip + -(-(budget - skip) // self.shards) * self.shards
        for _ in range(max(first, plan.total), -(-plan.total // self.shards) * self.shards,
                       self.shards):
            yield np.zeros(0, dtype=np.int64)
