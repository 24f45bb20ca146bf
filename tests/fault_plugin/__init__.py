"""A test-only fairseq plugin (``--user-dir tests/fault_plugin``): the fairseq_autoassist plugin
plus the criterion ``autoassist_faulty_cross_entropy`` and the task
``autoassist_translation_faulty``, which inject the faults named by environment variables into
training:

- ``AUTOASSIST_FAULT_OOM=RANK:STEP``: the STEP-th training forward (from 1) of rank RANK raises a
  CUDA-style out-of-memory error (fairseq then skips that batch on that rank and goes on);
- ``AUTOASSIST_FAULT_NAN=STEP``: the per-sentence losses of the STEP-th training forward are NaN
  (the loss the Boss trains on stays finite);
- ``AUTOASSIST_FAULT_BROKEN=STEP``: the STEP-th training forward hands over one per-sentence loss
  fewer than its batch has sentences (a broken criterion: the Assistant's step fails);
- ``AUTOASSIST_FAULT_RETRY=STEP`` (the task): the STEP-th training step (from 1) is trained
  twice on the same batch, gradients zeroed in between, as fairseq's ``--amp`` feeds a batch
  again after an overflow (on every rank: an overflow is seen by all);
- ``AUTOASSIST_FAULT_CONTRAST=RANK:N[:error]`` (the task): the N-th extra forward pass (from 1)
  of the skip-noise contrast on rank RANK (a forward in training mode without gradients) raises a
  CUDA-style out-of-memory error, or with ``:error`` another RuntimeError;
- ``AUTOASSIST_FAULT_KILL=WHAT:N[:RANK]`` (the task): this process kills itself (SIGKILL) in the
  N-th call (from 1) of ``decide`` (the keep rule deciding an epoch's or a chunk's plan) or of
  ``state_dict`` (AutoAssist's state, written into each checkpoint being saved), on RANK (0).
"""

import functools
import os
import signal

import torch
import torch.distributed as dist
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterionConfig
from fairseq.tasks import register_task

import fairseq_autoassist  # noqa: F401  (the task, criterion and schedule under test)
from fairseq_autoassist.criterion import AutoAssistLabelSmoothedCrossEntropyCriterion
from fairseq_autoassist.task import AutoAssistTranslationConfig, AutoAssistTranslationTask


def _rank():
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


@register_criterion("autoassist_faulty_cross_entropy",
                    dataclass=LabelSmoothedCrossEntropyCriterionConfig)
class FaultyCriterion(AutoAssistLabelSmoothedCrossEntropyCriterion):
    def __init__(self, task, sentence_avg, label_smoothing, ignore_prefix_size=0,
                 report_accuracy=False):
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)
        self.forwards = 0
        oom = os.environ.get("AUTOASSIST_FAULT_OOM")
        self.oom = tuple(int(x) for x in oom.split(":")) if oom else None
        nan = os.environ.get("AUTOASSIST_FAULT_NAN")
        self.nan = int(nan) if nan else None
        broken = os.environ.get("AUTOASSIST_FAULT_BROKEN")
        self.broken = int(broken) if broken else None

    def forward(self, model, sample, reduce=True):
        if model.training:
            self.forwards += 1
            if self.oom == (_rank(), self.forwards):
                raise RuntimeError("CUDA out of memory (injected by tests/fault_plugin)")
        return super().forward(model, sample, reduce)

    def pop_sentence_losses(self):
        out = super().pop_sentence_losses()
        if out is not None and self.nan == self.forwards:
            out = (torch.full_like(out[0], float("nan")), out[1])
        if out is not None and self.broken == self.forwards:
            out = (out[0][1:], out[1][1:])
        return out


@register_task("autoassist_translation_faulty", dataclass=AutoAssistTranslationConfig)
class FaultyTask(AutoAssistTranslationTask):
    def __init__(self, cfg, src_dict, tgt_dict):
        super().__init__(cfg, src_dict, tgt_dict)
        kill = os.environ.get("AUTOASSIST_FAULT_KILL", "").split(":")
        self.kill = (kill[0], int(kill[1]), int(kill[2]) if len(kill) > 2 else 0) if kill[0] else None
        self.calls = {"decide": 0, "state_dict": 0}
        retry = os.environ.get("AUTOASSIST_FAULT_RETRY")
        self.retry = int(retry) if retry else None
        self.steps = 0
        contrast = os.environ.get("AUTOASSIST_FAULT_CONTRAST", "").split(":")
        self.contrast = (int(contrast[0]), int(contrast[1]), contrast[2] if len(contrast) > 2
                         else "oom") if contrast[0] else None
        self.contrast_passes = None  # counted once the hook is on the model

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False,
                   **kwargs):
        self.steps += 1
        if self.contrast and self.contrast_passes is None:
            inner = model
            while hasattr(inner, "module"):  # the model under fairseq's distributed wrappers
                inner = inner.module
            inner.register_forward_pre_hook(self._contrast_pass)
            self.contrast_passes = 0
        if self.steps == self.retry:
            super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad,
                               **kwargs)
            optimizer.zero_grad()
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad,
                                  **kwargs)

    def get_batch_iterator(self, *args, **kwargs):
        itr = super().get_batch_iterator(*args, **kwargs)
        if self.kill and self.autoassist is not None and self.autoassist.rule is not None:
            # the rule is built anew with each training iterator; AutoAssist once
            if not isinstance(self.autoassist.rule.decide, functools.partial):
                self.autoassist.rule.decide = functools.partial(
                    self._counted, "decide", self.autoassist.rule.decide)
            if not isinstance(self.autoassist.state_dict, functools.partial):
                self.autoassist.state_dict = functools.partial(
                    self._counted, "state_dict", self.autoassist.state_dict)
        return itr

    def _counted(self, what, method, *args, **kwargs):
        self.calls[what] += 1
        if (what, self.calls[what], _rank()) == self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        return method(*args, **kwargs)

    def _contrast_pass(self, model, args):
        if not model.training or torch.is_grad_enabled():  # not the contrast's extra pass
            return
        self.contrast_passes += 1
        rank, n, kind = self.contrast
        if (_rank(), self.contrast_passes) == (rank, n):
            raise RuntimeError("CUDA out of memory (injected by tests/fault_plugin)"
                               if kind == "oom" else "a failure injected by tests/fault_plugin")
