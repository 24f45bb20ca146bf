"""A test-only fairseq plugin (``--user-dir tests/fault_plugin``): the fairseq_autoassist plugin
plus the criterion ``autoassist_faulty_cross_entropy``, which injects the faults named by
environment variables into training:

- ``AUTOASSIST_FAULT_OOM=RANK:STEP``: the STEP-th training forward (from 1) of rank RANK raises a
  CUDA-style out-of-memory error (fairseq then skips that batch on that rank and goes on);
- ``AUTOASSIST_FAULT_NAN=STEP``: the per-sentence losses of the STEP-th training forward are NaN
  (the loss the Boss trains on stays finite).
"""

import os

import torch
import torch.distributed as dist
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterionConfig

import fairseq_autoassist  # noqa: F401  (the task, criterion and schedule under test)
from fairseq_autoassist.criterion import AutoAssistLabelSmoothedCrossEntropyCriterion


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
        return out
