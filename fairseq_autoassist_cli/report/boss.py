"""The Boss's loss of every pair of a split: negative log-likelihood per target token with the
pair's own source, and with the sources of other pairs of its batch (how much its own source tells
the Boss about the target: a misaligned pair's tells it no more than a stranger's)."""

import logging
import time

import numpy as np
import torch

logger = logging.getLogger(__name__)


def pair_losses(run, max_tokens=4000, device=None, other_sources=4, similar=None, dataset=None):
    """``(own, other, similar_loss, seconds)``: float64 arrays over the pairs of *dataset*
    (default ``run.dataset``; nats per target token); *other* is the mean loss of a pair's target
    after each of the *other_sources* sources before it in its length-sorted batch (fewer in a
    smaller batch); *similar_loss* its loss after the source of pair ``similar[i]`` (a source like
    its own; NaN where ``similar`` is -1 or not given). NaN for pairs too long for the model, and
    in *other* for pairs alone in their batch."""
    from fairseq import utils

    from fairseq_autoassist.plan import Batcher

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = run.model.to(device)
    dataset = run.dataset if dataset is None else dataset
    max_positions = utils.resolve_max_positions(run.task.max_positions(), model.max_positions())
    batcher = Batcher(run.task, dataset, max_tokens, None, max_positions, True, 1, 1)
    batches = batcher.pack(batcher.candidates(1))
    own = np.full(len(dataset), np.nan)
    other = np.full(len(dataset), np.nan)
    similar_loss = np.full(len(dataset), np.nan)
    pad = run.task.target_dictionary.pad()
    start = last_log = time.perf_counter()
    done = 0
    with torch.no_grad():
        for b, ids in enumerate(batches):
            sample = utils.move_to_cuda(dataset.collater([dataset[i] for i in ids]), device)
            net_input, target = sample["net_input"], sample["target"]
            mask = target.ne(pad)
            ntokens = mask.sum(1).double()
            rows = sample["id"].cpu().numpy()
            own[rows] = (_summed_nll(model, net_input, target, mask) / ntokens).cpu().numpy()
            shifts = range(1, min(other_sources, len(rows) - 1) + 1)
            if len(shifts):
                summed = sum(_summed_nll(model, _shifted(net_input, k), target, mask) for k in shifts)
                other[rows] = (summed / len(shifts) / ntokens).cpu().numpy()
            if similar is not None:
                _similar_losses(model, dataset, ids, similar, similar_loss, device)
            done += len(rows)
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                logger.info("Boss losses: %d of %d pairs (batch %d of %d)", done, len(dataset),
                            b + 1, len(batches))
    return own, other, similar_loss, time.perf_counter() - start


def _similar_losses(model, dataset, ids, similar, out, device):
    """``out[i]``: the loss of pair i's target after the source of pair ``similar[i]``, for the
    pairs *ids* that have one."""
    from fairseq import utils

    ids = [i for i in ids if similar[i] >= 0]
    if not ids:
        return
    items = [dict(dataset[i], source=dataset[int(similar[i])]["source"]) for i in ids]
    sample = utils.move_to_cuda(dataset.collater(items), device)
    target = sample["target"]
    mask = target.ne(dataset.tgt_dict.pad())
    nll = _summed_nll(model, sample["net_input"], target, mask) / mask.sum(1).double()
    out[sample["id"].cpu().numpy()] = nll.cpu().numpy()


def _shifted(net_input, k):
    """*net_input* with every pair's source replaced by that of the pair *k* places before it."""
    return dict(net_input, src_tokens=net_input["src_tokens"].roll(k, 0),
                src_lengths=net_input["src_lengths"].roll(k, 0))


def _summed_nll(model, net_input, target, mask):
    """Per sentence, the summed negative log-likelihood (nats) of *target*'s tokens."""
    lprobs = model.get_normalized_probs(model(**net_input), log_probs=True)
    nll = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return (nll.double() * mask).sum(1)
