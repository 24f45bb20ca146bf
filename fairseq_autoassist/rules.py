"""Keep rules: for each candidate pair of an epoch, the probability that it is trained on and the
loss weight it gets if it is (``--assistant-rule``).

* ``paper`` (AutoAssist, Sec. 3.2): keep with probability ``p + (1 - p) q``, ``p = max(base_prob,
  1 - confidence)``, ``q`` the probability that the pair is hard; weight 1, or with
  ``--assistant-reweight`` ``min(1 / keep probability, --assistant-reweight-max)`` (unbiased).
* ``infobatch`` (Qin et al., ICLR 2024): a pair predicted learned (``q < 0.5``; with
  ``--assistant-scorer last-loss`` its last seen per-token loss below the running mean; a pair
  never seen counts as hard) is dropped with probability ``r`` (``--assistant-prune-ratio``) and,
  if kept, weighted ``1 / (1 - r)``, so the epoch's expected gradient is unchanged; every other
  pair is kept with weight 1.
* ``skip-hard`` (for noisy data): a pair whose per-token loss was in the top
  ``--assistant-hard-fraction`` of its batch in its last ``--assistant-hard-streak`` observations
  in a row (a pair that stays unlearnable) is kept only with probability ``base_prob`` (re-checked,
  so a wrongly skipped pair can come back); every other pair is kept; weights 1.
* ``skip-noise`` (noisy corpora): a pair whose noise evidence (:mod:`noise_rule`: copy,
  language, duplicates, length ratio, the Boss's contrast) passes ``--assistant-noise-threshold``
  is dropped (by its data evidence alone: always; by the contrast: kept with probability
  ``base_prob``, re-checked); every other pair is kept; weights 1.
* ``swiftlearn`` (Hajimolahoseini et al., 2023): the ``--assistant-swiftlearn-keep`` share of the
  pairs the Boss found most important at its last measurement (:mod:`swiftlearn`) is kept, every
  other pair is dropped; weights 1.

Warm-up epochs (``--assistant-warmup-epochs``) and annealing epochs (the last
``--assistant-anneal`` fraction of ``--max-epoch``) keep every pair with weight 1.

The random control (``--assistant-scorer random``) follows the same rule on a random set, at the
keep rate of ``--assistant-keep-rates`` for the epoch: ``paper``, ``skip-hard`` and
``swiftlearn`` keep each pair with that probability (``paper`` with ``--assistant-reweight``
weights it ``1 / rate``); ``infobatch`` marks a random group of pairs as learned, sized so that
dropping each with probability ``r`` keeps the given rate, and weights its survivors
``1 / (1 - r)``.
"""

import math

import numpy as np

RULES = ("paper", "infobatch", "skip-hard", "skip-noise", "swiftlearn")


def paper_keep_prob(p_floor, hard_prob):
    """AutoAssist's acceptance probability ``p + (1 - p) q`` (its two-stage draw, keep when
    ``u < p`` else with probability ``q``, as one uniform draw)."""
    return p_floor + (1.0 - p_floor) * np.asarray(hard_prob)


def random_rate(rates, epoch):
    """The keep rate of *epoch* in *rates* ({epoch: rate}); past its last epoch, the last rate."""
    known = [e for e in rates if e <= epoch]
    return float(rates[max(known)]) if known else 1.0


def anneal_start(anneal, max_epoch):
    """First epoch that trains on every pair: the last *anneal* fraction of *max_epoch* epochs
    (none when *anneal* is 0)."""
    if not anneal:
        return math.inf
    return int(math.floor((1.0 - anneal) * max_epoch + 1e-9)) + 1


class KeepRule:
    """The rule of one run. ``decide(epoch, ids)`` gives each pair's keep probability and weight.

    *assistant* (:class:`assistant.Assistant`) and *tables* (:class:`tokens.PairTables`) give the
    probability of "hard" and each pair's observed losses; *random_rates* ({epoch: keep rate})
    makes it the random control; *seed* seeds the control's random groups; *noise* and
    *importance* are skip-noise's and swiftlearn's per-pair state.
    """

    def __init__(self, assistant, tables, rule="paper", scorer="assistant", base_prob=0.5,
                 warmup_epochs=1, prune_ratio=0.5, reweight=False, reweight_max=4.0,
                 hard_streak=2, anneal=0.0, max_epoch=0, random_rates=None, seed=1, noise=None,
                 importance=None):
        self.assistant = assistant
        self.tables = tables
        self.rule = rule
        self.scorer = scorer
        self.base_prob = base_prob
        self.warmup_epochs = warmup_epochs
        self.prune_ratio = prune_ratio
        self.reweight = reweight
        self.reweight_max = reweight_max
        self.hard_streak = hard_streak
        self.full_from = anneal_start(anneal, max_epoch)
        self.random_rates = random_rates
        self.seed = seed
        self.noise = noise  # noise_rule.NoiseWatch (skip-noise)
        self.importance = importance  # swiftlearn.Importance

    def trains_everything(self, epoch):
        """Warm-up and annealing epochs keep every pair with weight 1."""
        if epoch >= self.full_from:
            return True
        return self.random_rates is None and epoch <= self.warmup_epochs

    def floor(self, epoch):
        """The epoch's floor ``p`` (paper), the random control's rate, or 1 - r (infobatch)."""
        if self.trains_everything(epoch):
            return 1.0
        if self.random_rates is not None:
            return random_rate(self.random_rates, epoch)
        if self.rule == "paper":
            return max(self.base_prob, 1.0 - self.assistant.confidence)
        if self.rule == "infobatch":
            return 1.0 - self.prune_ratio
        return 0.0 if self.rule == "swiftlearn" else self.base_prob

    def decide(self, epoch, ids):
        """(keep probability, weight if kept) of the pairs *ids* in *epoch*, float64 arrays."""
        ids = np.asarray(ids, dtype=np.int64)
        ones = np.ones(len(ids))
        if self.trains_everything(epoch):
            return ones, ones
        if self.random_rates is not None:
            return self._random(epoch, ids)
        if self.rule == "paper":
            keep = paper_keep_prob(self.floor(epoch), self._hard_prob(ids))
            return keep, self._inverse(keep)
        if self.rule == "infobatch":
            return self._prune(self._learned(ids))
        if self.rule == "skip-noise":
            return self.noise.keep_prob(ids, self.base_prob), ones
        if self.rule == "swiftlearn":
            return self.importance.keep_prob(ids), ones
        skipped = self.assistant.hard_streaks(ids) >= self.hard_streak
        return np.where(skipped, self.base_prob, 1.0), ones

    # ----------------------------------------------------------------------------- the parts
    def _hard_prob(self, ids):
        if self.scorer == "last-loss":
            return (~self.assistant.learned_by_last_loss(ids)).astype(np.float64)
        return self.assistant.hard_prob(self.tables, ids)

    def _learned(self, ids):
        if self.scorer == "last-loss":
            return self.assistant.learned_by_last_loss(ids)
        return self.assistant.hard_prob(self.tables, ids) < 0.5

    def _prune(self, learned):
        r = self.prune_ratio
        keep = np.where(learned, 1.0 - r, 1.0)
        weight = np.where(learned, 1.0 / (1.0 - r), 1.0)
        return keep, weight

    def _inverse(self, keep):
        if not self.reweight:
            return np.ones(len(keep))
        return np.minimum(1.0 / np.maximum(keep, 1e-12), self.reweight_max)

    def _random(self, epoch, ids):
        rate = random_rate(self.random_rates, epoch)
        if self.rule == "infobatch":
            group = min(1.0, (1.0 - rate) / self.prune_ratio) if self.prune_ratio > 0 else 0.0
            draws = np.random.default_rng((self.seed, epoch, 4)).random(len(self.tables))
            return self._prune(draws[ids] < group)
        keep = np.full(len(ids), rate)
        if self.rule == "paper":
            return keep, self._inverse(keep)
        return keep, np.ones(len(ids))
