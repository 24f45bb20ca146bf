"""Per-pair state beside the Assistant, as the flags ask for it: the loss history
(``--assistant-loss-history``, :mod:`history`), the skip-noise watch (``--assistant-rule
skip-noise``, :mod:`noise_rule`) and swiftlearn's importance (``--assistant-rule swiftlearn``,
:mod:`swiftlearn`). :class:`autoassist.AutoAssist` holds one :class:`PairState`
and hands it what every rank exchanged, in rank order, so every rank holds the same state; it is
checksummed with the Assistant and rides in the checkpoint beside it."""

import logging

import numpy as np
import torch

from .history import LossHistory
from .noise_rule import NOISE_METRICS, watch_noise
from .options import fail
from .ranks import Ranks, checksum, unpack
from .swiftlearn import SWIFTLEARN_METRICS, watch_importance

logger = logging.getLogger(__name__)

# a rank's contrast of a step whose extra forward pass failed: one record of pair id -1
FAILED = (np.array([-1], dtype=np.int64), np.zeros(1), np.zeros(1))


class PairState:
    """The loss history, the noise watch and the importance of one corpus (each None when
    off)."""

    def __init__(self, cfg, tables, dataset, dictionaries):
        self.history = LossHistory(len(tables)) if cfg.assistant_loss_history else None
        # the random control drops random pairs: it measures no noise
        noisy = cfg.assistant_rule == "skip-noise" and cfg.assistant_scorer != "random"
        self.noise = watch_noise(cfg, tables, dataset, dictionaries) if noisy else None
        # swiftlearn's random control measures nothing
        important = cfg.assistant_rule == "swiftlearn" and cfg.assistant_scorer != "random"
        self.importance = watch_importance(cfg, len(tables)) if important else None

    def parts(self):
        return {k: v for k, v in (("history", self.history), ("noise", self.noise),
                                  ("importance", self.importance)) if v is not None}

    def begin_epoch(self, epoch, resumed=False, measure=None):
        """*epoch* is planned: each part fixes what it plans the epoch with (swiftlearn measures
        with *measure* when due), unless the epoch is *resumed* in its middle from a checkpoint:
        what the parts fixed at its start rides in their :meth:`state_dict` and was restored
        with it."""
        if resumed:
            return
        if self.noise is not None:
            self.noise.begin_epoch(epoch)
        if self.importance is not None:
            self.importance.begin_epoch(epoch, measure)

    def learn(self, epoch, ids, losses, ntokens):
        """One batch's summed losses and target tokens (as the Assistant learns them)."""
        if self.history is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                self.history.observe(epoch, ids, np.asarray(losses) / np.asarray(ntokens))

    def measure(self, epoch, model, sample, per_sentence, criterion):
        """skip-noise: this rank's rolled-source gains of a training step, or None. Its extra
        forward pass never stops this rank alone (the others would wait in the exchange): out of
        memory, the step measures nothing here (a warning); any other failure is logged and
        handed to :meth:`exchange`, which stops every rank."""
        if self.noise is None or per_sentence is None:
            return None
        try:
            return self.noise.measure(epoch, model, sample, per_sentence[0], criterion)
        except Exception as e:  # noqa: BLE001  (told to every rank by the exchange)
            if isinstance(e, RuntimeError) and "out of memory" in str(e):
                logger.warning("AutoAssist skip-noise: rank %d ran out of memory in the "
                               "rolled-source extra forward pass: it measures nothing in this "
                               "step (%s)", Ranks().rank, e)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                return None
            logger.exception("AutoAssist skip-noise: the rolled-source forward pass failed")
            return FAILED

    def exchange(self, epoch, ranks, gains, max_pairs, lock):
        """skip-noise: every rank's rolled-source *gains* of this step in *epoch* (all ranks call
        it every step), learned in rank order under *lock*; no exchange in an epoch where no rank
        measures (the warm-up, a contrast share of 0). A rank whose extra pass failed stops
        every rank, after the exchange, with an error naming it."""
        if self.noise is None or not self.noise.measuring(epoch):
            return
        every = [] if gains is None else [gains]
        if ranks.size > 1:
            mine = gains or (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
            every = unpack(ranks.gather(*(torch.as_tensor(x) for x in mine),
                                        Ranks.rounds(max_pairs)).cpu().numpy())
        failed = [rank for rank, (ids, _, _) in enumerate(every) if (np.asarray(ids) < 0).any()]
        if failed:
            fail(f"rank {ranks.rank} stops: the skip-noise rolled-source extra forward pass failed "
                 f"on rank(s) {failed} (the traceback is in its log), and every rank stops with it")
        with lock:
            for ids, gains, ntokens in every:
                self.noise.learn(ids, gains, ntokens)

    def metrics(self):
        """[(priority of the first, ((name, digits), ...))]: the parts' figures in fairseq's
        epoch train line."""
        return [(first, keys) for first, part, keys in ((820, self.noise, NOISE_METRICS),
                                                        (830, self.importance, SWIFTLEARN_METRICS))
                if part is not None]

    def stats(self):
        return {k: v for part in (self.noise, self.importance) if part is not None
                for k, v in part.stats().items()}

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
