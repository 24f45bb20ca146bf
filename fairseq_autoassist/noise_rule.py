"""The ``skip-noise`` rule's evidence: which training pairs look like noise, from the corpus and
from the Boss's own training (``--assistant-rule skip-noise``).

* **Data evidence**, computed once when training starts (:mod:`noise`): a target that is a copy of
  its source (joined dictionary only), another language likelier than the expected one on either
  side (``py3langid``; ``--assistant-noise-no-language`` turns it off), a bag of tokens shared by
  more than two pairs (templated near-duplicates), a length ratio far from the corpus's. The
  same fixed rules as the data report's noise score (:func:`noise.evidence`): about 5 for a pair
  that plainly is that kind of noise, 0 for none.
* **Boss evidence**, the rolled-source gain: after the warm-up, in a share of the training steps
  (``--assistant-noise-contrast-share`` of each epoch's pairs, drawn by a hash of pair id and
  epoch), the Boss scores the step's targets once more with the sources rolled by one row within
  the batch (pairs of about the same length), in a forward pass without backward, in training
  mode under a forked random state (dropout as in the step, the training's random stream
  untouched). A pair's *gain* is how much lower its own source makes its loss (nats per target
  token). Its evidence is ``5 (1 - gain / (g / 2))`` clipped to [0, 5], with ``g`` the median
  gain of the pairs measured: 5 when the own source helps no more than another, 0 from half the
  usual gain on. While ``g`` is under :data:`ROLLED_SOURCE_TRUST_GAIN` (a Boss that barely uses
  its source) the gain is not trusted and adds nothing. The loss is the criterion's (fairseq's
  ``label_smoothed_nll_loss``, honouring ``--ignore-prefix-size``). The extra passes' target
  tokens are counted (``noise_forward_tokens`` in the epoch line). (The data report's *source
  contrast* is another measure: :mod:`fairseq_autoassist_cli.report.noise_signals`.)

A pair is flagged when its evidence (data + rolled-source gain) passes
``--assistant-noise-threshold``. A pair flagged by its data evidence alone is never trained again
(the corpus does not change); one that the rolled-source gain flags is kept with probability
``--assistant-base-prob`` and measured again whenever it is trained (re-checked: a pair the Boss
learns to translate comes back). The median gain and the re-checked pairs are fixed when an epoch
is planned at its start (and restored, not recomputed, when training resumes in its middle); a
chunk planned again during the epoch (``--assistant-plan-chunks``) flags with the gains measured
until then, against that median. Everything is computed from the corpus and from the gains every
rank exchanged, so every rank flags the same pairs.
"""

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.dataclass import FairseqDataclass

from . import noise
from .options import AutoAssistError
from .ranks import checksum

ROLLED_SOURCE_EVIDENCE = 5.0  # evidence of a pair whose own source helps no more than another's
ROLLED_SOURCE_TRUST_GAIN = 1.0  # nats per target token: a median gain that trusts the Boss

logger = logging.getLogger(__name__)


@dataclass
class NoiseRuleConfig(FairseqDataclass):
    """The flags of ``--assistant-rule skip-noise`` (mixed into the task's config)."""

    assistant_noise_threshold: float = field(default=2.0, metadata={"help": (
        "skip-noise: a pair whose noise evidence is above this is skipped (kept with probability "
        "--assistant-base-prob); the evidence is about 5 for a pair that plainly is a copy, in "
        "another language or a templated duplicate, 0 for none")})
    assistant_noise_no_language: bool = field(default=False, metadata={"help": (
        "skip-noise: leave out the language-ID signal (which needs the package py3langid and "
        "ISO 639-1 codes as -s/-t)")})
    assistant_noise_contrast_share: float = field(default=0.25, metadata={"help": (
        "skip-noise: share of each epoch's pairs (after the warm-up) whose contrast the Boss "
        "measures in an extra forward pass without backward (0: data evidence only)")})
    assistant_noise_post_process: str = field(default="sentencepiece", metadata={"help": (
        "skip-noise: how token strings become text for the language-ID signal (fairseq's "
        "--post-process: sentencepiece, subword_nmt, none, ...)")})


def data_evidence(tables, dataset, dictionaries, languages, post_process, language=True):
    """Per pair, the sum of the data signals' :func:`noise.evidence` (:func:`noise.data_signals`,
    the report's), and a dict of what each signal found (pairs with evidence above 0 and the
    signals that are off), for the log."""
    start = time.perf_counter()
    signals, off = noise.data_signals(tables, dataset, dictionaries, languages, post_process,
                                      language)
    if not language:
        off["language"] = "--assistant-noise-no-language"
    parts = noise.evidence({name: signals[name] for name in noise.DATA_SIGNALS})
    found = {name: int((value > 0).sum()) for name, value in parts.items()}
    total = sum(parts.values()).astype(np.float32)
    logger.info("AutoAssist skip-noise: data evidence of %d pairs in %.1f s: pairs with evidence "
                "per signal %s%s", len(total), time.perf_counter() - start, found,
                f"; off: {off}" if off else "")
    return total, {"found": found, "off": off}


def _draw(ids, epoch):
    """A uniform number in [0, 1) per pair and epoch, from a hash of (id, epoch): the same on
    every rank, with no per-epoch array."""
    x = (np.asarray(ids, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
         + np.uint64(epoch & 0xFFFFFFFF) * np.uint64(0xBF58476D1CE4E5B9))
    x ^= x >> np.uint64(31)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class NoiseWatch:
    """Per pair: the data evidence (fixed), the Boss's last measured gain, and whether the pair
    is flagged as noise; state in checkpoints, the same on every rank."""

    def __init__(self, data_evidence, threshold, contrast_share, warmup_epochs):
        self.data = np.asarray(data_evidence, dtype=np.float32)
        self.threshold = threshold
        self.contrast_share = contrast_share
        self.warmup_epochs = warmup_epochs
        self.epoch = 0
        self.typical_gain = float("nan")  # the median gain, at the last epoch plan
        self.data_flagged = int((self.data > threshold).sum())  # never trained after warm-up
        self.recheck = np.zeros(len(self.data), dtype=bool)  # flagged by the rolled-source gain
        self.gain = np.full(len(self.data), np.nan, dtype=np.float32)
        self.forward_tokens = 0  # target tokens of the extra passes, all ranks, whole run
        self.epoch_forward_tokens = 0

    def __len__(self):
        return len(self.data)

    def measuring(self, epoch):
        """Whether any pair's rolled-source gain is measured in *epoch* (the same on every
        rank)."""
        return epoch > self.warmup_epochs and self.contrast_share > 0

    def due(self, epoch, ids):
        """Which of the pairs *ids* (a step's, in *epoch*) get their rolled-source gain
        measured."""
        if not self.measuring(epoch):
            return np.zeros(len(ids), dtype=bool)
        return (_draw(ids, epoch) < self.contrast_share) | self.recheck[ids]

    def measure(self, epoch, model, sample, own_losses, criterion):
        """The rolled-source gains of the pairs of this training step that are :meth:`due`
        (*criterion*: the training's): (ids, gains, target tokens), or None (fewer than 2 due:
        nothing to roll)."""
        ids = sample["id"].cpu().numpy()
        rows = np.flatnonzero(self.due(epoch, ids))
        if len(rows) < 2:
            return None
        gains, ntokens = rolled_source_gains(model, sample, own_losses, rows, criterion)
        return ids[rows], gains, ntokens

    def learn(self, ids, gains, ntokens):
        """Measured gains (nats per target token) of pairs *ids*; *ntokens*: their targets'."""
        ok = np.isfinite(gains)
        self.gain[np.asarray(ids, dtype=np.int64)[ok]] = np.asarray(gains)[ok]
        tokens = int(np.asarray(ntokens).sum())
        self.forward_tokens += tokens
        self.epoch_forward_tokens += tokens

    def begin_epoch(self, epoch):
        """The epoch plan of *epoch*: fix the median gain and the flags it plans with."""
        if epoch != self.epoch:  # not when an interrupted epoch is planned again
            self.epoch, self.epoch_forward_tokens = epoch, 0
        self.typical_gain = self.median_gain()
        self.recheck = (self.data <= self.threshold) & (self.evidence() > self.threshold)

    def median_gain(self):
        known = self.gain[np.isfinite(self.gain)]
        return float(np.median(known)) if len(known) else float("nan")

    def evidence(self, ids=None):
        """Data + rolled-source gain evidence of the pairs *ids* (default all)."""
        ids = np.arange(len(self)) if ids is None else np.asarray(ids, dtype=np.int64)
        out = self.data[ids].astype(np.float64)
        g = self.typical_gain
        if g >= ROLLED_SOURCE_TRUST_GAIN:  # a Boss that uses its source: its gains count
            gain = self.gain[ids].astype(np.float64)
            known = np.isfinite(gain)
            out[known] += np.clip(ROLLED_SOURCE_EVIDENCE * (1.0 - gain[known] / (0.5 * g)),
                                  0.0, ROLLED_SOURCE_EVIDENCE)
        return out

    def keep_prob(self, ids, base_prob):
        """Per pair of *ids*: 1 when not flagged, 0 when its data evidence alone flags it,
        *base_prob* when the rolled-source gain does (re-checked)."""
        ids = np.asarray(ids, dtype=np.int64)
        keep = np.where(self.evidence(ids) > self.threshold, base_prob, 1.0)
        return np.where(self.data[ids] > self.threshold, 0.0, keep)

    def stats(self):
        """The epoch line's figures: the pairs flagged at the epoch plan, the median gain it
        planned with, the target tokens of this epoch's extra passes."""
        return {"noise_flagged": self.data_flagged + int(self.recheck.sum()),
                "noise_median_gain": self.typical_gain,
                "noise_forward_tokens": self.epoch_forward_tokens}

    def checksum(self):
        return checksum(self.data, self.gain, self.forward_tokens, self.typical_gain, self.recheck)

    def state_dict(self):
        return {"gain": torch.from_numpy(self.gain.copy()), "forward_tokens": self.forward_tokens,
                "epoch_forward_tokens": self.epoch_forward_tokens, "epoch": self.epoch,
                "typical_gain": self.typical_gain, "recheck": torch.from_numpy(self.recheck.copy())}

    def load_state_dict(self, state):
        gain = state["gain"].numpy()
        if len(gain) != len(self):
            raise ValueError(f"skip-noise state of {len(gain)} pairs, the corpus has {len(self)}")
        self.gain = gain.astype(np.float32)
        self.forward_tokens = int(state["forward_tokens"])
        self.epoch_forward_tokens = int(state["epoch_forward_tokens"])
        self.epoch = int(state["epoch"])
        self.typical_gain = float(state["typical_gain"])
        self.recheck = state["recheck"].numpy().astype(bool)


def watch_noise(cfg, tables, dataset, dictionaries):
    """The :class:`NoiseWatch` of the task config *cfg* on the training split *dataset*."""
    try:
        evidence, _ = data_evidence(tables, dataset, dictionaries, (cfg.source_lang, cfg.target_lang),
                                    cfg.assistant_noise_post_process,
                                    not cfg.assistant_noise_no_language)
    except noise.NoiseError as e:
        raise AutoAssistError(f"--assistant-rule skip-noise: {e}") from e
    return NoiseWatch(evidence, cfg.assistant_noise_threshold, cfg.assistant_noise_contrast_share,
                      cfg.assistant_warmup_epochs)


# the epoch train line's figures (name, digits), with --assistant-rule skip-noise
NOISE_METRICS = (("noise_flagged", 0), ("noise_median_gain", 3), ("noise_forward_tokens", 0))


def sentence_losses(model, sample, rows, source_rows, criterion):
    """The per-sentence training loss of *criterion* (fairseq's label-smoothed cross-entropy) of
    the targets at batch *rows* of *sample*, each with the source at the same place of
    *source_rows*: fairseq's ``label_smoothed_nll_loss`` per token (the criterion's smoothing,
    padding and ``--ignore-prefix-size``), summed per sentence; from a forward pass without
    backward, in the model's current mode under a forked random state. Returns (losses, target
    tokens) as tensors of the rows."""
    while hasattr(model, "module"):  # the model under fairseq's distributed wrappers
        model = model.module
    net = sample["net_input"]
    idx = torch.as_tensor(rows, device=net["src_tokens"].device)
    src = torch.as_tensor(source_rows, device=net["src_tokens"].device)
    devices = [net["src_tokens"].device] if net["src_tokens"].is_cuda else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        out = model(src_tokens=net["src_tokens"][src], src_lengths=net["src_lengths"][src],
                    prev_output_tokens=net["prev_output_tokens"][idx])
        lprobs, target = criterion.get_lprobs_and_target(model, out,
                                                         {"target": sample["target"][idx]})
        loss, _ = label_smoothed_nll_loss(lprobs, target, criterion.eps,
                                          ignore_index=criterion.padding_idx, reduce=False)
    ntokens = target.ne(criterion.padding_idx).view(len(idx), -1).sum(1)
    return loss.float().view(len(idx), -1).sum(1), ntokens


def rolled_source_gains(model, sample, own_losses, rows, criterion):
    """The rolled-source gain of the pairs at batch *rows* (at least 2) of *sample*: their
    training loss (:func:`sentence_losses`) with the source of the previous row among *rows*
    (rolled), minus *own_losses* (their summed training losses, the criterion's), over their
    target tokens, in the model's training mode. Returns (gains, target tokens) as float64
    arrays."""
    idx = torch.as_tensor(rows, device=sample["target"].device)
    loss, ntokens = sentence_losses(model, sample, idx, idx.roll(1), criterion)
    gains = (loss - own_losses[idx].float()) / ntokens.clamp(min=1)
    return gains.double().cpu().numpy(), ntokens.cpu().numpy().astype(np.float64)
