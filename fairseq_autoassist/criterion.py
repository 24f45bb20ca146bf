"""Label-smoothed cross-entropy that also yields each sentence's loss, the Assistant's training
signal (paper Sec. 3.1: the Boss's per-instance loss labels the Assistant's data).

Loss, gradient and logging are those of fairseq's ``label_smoothed_cross_entropy`` (the same
arithmetic, so the same bits). When the task puts loss weights in the sample
(``sample["pair_weight"]``, one per sentence, from the plan of a reweighting rule), each
sentence's tokens count with its weight in the training loss, and ``sample_size`` is unchanged (so
fairseq's normalisation is too); ``nll_loss`` (logged) and the per-sentence losses stay
unweighted. While the model trains, the detached per-sentence summed loss and
target-token count (fp32, also under ``--fp16/--bf16/--amp``) are kept for the task's
``train_step`` to collect; they never enter ``logging_output``, which fairseq sums across ranks.
"""

from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)


@register_criterion(
    "autoassist_label_smoothed_cross_entropy",
    dataclass=LabelSmoothedCrossEntropyCriterionConfig,
)
class AutoAssistLabelSmoothedCrossEntropyCriterion(LabelSmoothedCrossEntropyCriterion):
    gives_sentence_losses = True

    def __init__(self, task, sentence_avg, label_smoothing, ignore_prefix_size=0,
                 report_accuracy=False):
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)
        self._sentence_losses = None

    def compute_loss(self, model, net_output, sample, reduce=True):
        lprobs, target = self.get_lprobs_and_target(model, net_output, sample)
        target = target.unsqueeze(-1)
        nll_loss = -lprobs.gather(dim=-1, index=target)
        smooth_loss = -lprobs.sum(dim=-1, keepdim=True)
        pad_mask = target.eq(self.padding_idx)
        nll_loss.masked_fill_(pad_mask, 0.0)
        smooth_loss.masked_fill_(pad_mask, 0.0)
        eps_i = self.eps / (lprobs.size(-1) - 1)
        weight = sample.get("pair_weight")
        if model.training:
            bsz = sample["target"].size(0)
            per_token = (1.0 - self.eps - eps_i) * nll_loss.detach() + eps_i * smooth_loss.detach()
            self._sentence_losses = (
                per_token.float().view(bsz, -1).sum(1),
                (~pad_mask).view(bsz, -1).sum(1),
            )
        if weight is not None:  # per token: its sentence's weight (rows are sentence-major)
            per_token = weight.to(nll_loss.dtype).view(-1, 1).expand(
                weight.size(0), nll_loss.numel() // weight.size(0)).reshape(-1, 1)
            loss = (1.0 - self.eps - eps_i) * nll_loss * per_token + eps_i * smooth_loss * per_token
            if reduce:
                loss, nll_loss = loss.sum(), nll_loss.sum()
            return loss, nll_loss
        if reduce:
            nll_loss = nll_loss.sum()
            smooth_loss = smooth_loss.sum()
        loss = (1.0 - self.eps - eps_i) * nll_loss + eps_i * smooth_loss
        return loss, nll_loss

    def pop_sentence_losses(self):
        """(summed loss, target tokens) per sentence of the last training forward, or None."""
        out, self._sentence_losses = self._sentence_losses, None
        return out
