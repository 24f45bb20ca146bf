"""Per-pair state beside the Assistant, as the flags ask for it: the loss history
(``--assistant-loss-history``, :mod:`history`) and the skip-noise watch (``--assistant-rule
skip-noise``, :mod:`noise_rule`). :class:`autoassist.AutoAssist` holds one :class:`PairState`
and hands it what every rank exchanged, in rank order, so every rank holds the same state; it is
checksummed with the Assistant and rides in the checkpoint beside it."""

import logging

import numpy as np
import torch

from .history import LossHistory
from .noise_rule import watch_noise
from .ranks import Ranks, checksum, unpack

logger = logging.getLogger(__name__)


class PairState:
    """The loss history and the noise watch of one corpus (each None when off)."""

    def __init__(self, cfg, tables, dataset, dictionaries):
        self.history = LossHistory(len(tables)) if cfg.assistant_loss_history else None
        # the random control drops random pairs: it measures no noise
        noisy = cfg.assistant_rule == "skip-noise" and cfg.assistant_scorer != "random"
        self.noise = watch_noise(cfg, tables, dataset, dictionaries) if noisy else None

    def parts(self):
        return {k: v for k, v in (("history", self.history), ("noise", self.noise)) if v is not None}

    def begin_epoch(self, epoch):
        if self.noise is not None:
            self.noise.begin_epoch(epoch)

    def learn(self, epoch, ids, losses, ntokens):
        """One batch's summed losses and target tokens (as the Assistant learns them)."""
        if self.history is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                self.history.observe(epoch, ids, np.asarray(losses) / np.asarray(ntokens))

    def measure(self, epoch, model, sample, per_sentence, criterion):
        """skip-noise: this rank's rolled-source gains of a training step, or None."""
        if self.noise is None or per_sentence is None:
            return None
        return self.noise.measure(epoch, model, sample, per_sentence[0], criterion)

    def exchange(self, epoch, ranks, gains, max_pairs, lock):
        """skip-noise: every rank's rolled-source *gains* of this step in *epoch* (all ranks call
        it every step), learned in rank order under *lock*; no exchange in an epoch where no rank
        measures (the warm-up, a contrast share of 0)."""
        if self.noise is None or not self.noise.measuring(epoch):
            return
        every = [] if gains is None else [gains]
        if ranks.size > 1:
            mine = gains or (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
            every = unpack(ranks.gather(*(torch.as_tensor(x) for x in mine),
                                        Ranks.rounds(max_pairs)).cpu().numpy())
        with lock:
            for ids, gains, ntokens in every:
                self.noise.learn(ids, gains, ntokens)

    def stats(self):
        return {} if self.noise is None else self.noise.stats()

    def checksum(self, assistant_checksum):
        """The Assistant's checksum, joined by the parts' (unchanged when every part is off)."""
        parts = self.parts()
        if not parts:
            return assistant_checksum
        return checksum(assistant_checksum, *(p.checksum() for p in parts.values()))

    def state_dict(self):
        return {k: p.state_dict() for k, p in self.parts().items()}

    def load_state_dict(self, state):
        """Restore each part from *state* (a checkpoint's AutoAssist state); a part the
        checkpoint lacks starts anew, with a warning. ValueError if one does not fit."""
        for name, part in self.parts().items():
            if name not in state:
                logger.warning("AutoAssist: the checkpoint holds no %s state (its run had other "
                               "flags): it starts now", name)
                continue
            try:
                part.load_state_dict(state[name])
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise ValueError(f"the checkpoint's {name} state does not fit: {e}") from e
