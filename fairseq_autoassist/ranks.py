"""The ranks of a distributed run: one Assistant for all of them.

Under fairseq's data-parallel training every rank builds the same epoch plan (same seed, same
Assistant state) and fairseq shards its batches. For the Assistants to stay identical, every
rank's per-sentence losses reach every rank: after each Boss step the ranks exchange them with
fixed-size ``all_gather`` collectives (16 KB per rank and round, never fairseq's pickling
``all_gather_list``), and each rank learns from them in rank order. The number of rounds per step
is fixed for an epoch from a bound on the pairs in any batch of its plan, which all ranks know, so
every rank makes the same collective calls and, on a GPU, the losses need no host synchronisation
(skip-noise's contrast does: in the epochs it measures, each step reads its pair ids on the host,
then the gains measured and, on several ranks, exchanged). At each epoch plan the ranks compare
checksums of their Assistant and plan (:meth:`Ranks.agree`) and stop with an error if they
differ, instead of training different epoch lengths and hanging.
"""

import math
import zlib

import numpy as np
import torch
import torch.distributed as dist
from fairseq.distributed import utils as distributed_utils

ROUND_BYTES = 16384  # one rank's tensor per all_gather round
FIELDS = 3  # id, target tokens, loss (float32 bits), as int32
ROWS = ROUND_BYTES // (FIELDS * 4)  # the first row of a round is its header: (records, 0, 0)
PER_ROUND = ROWS - 1


class Ranks:
    """fairseq's data-parallel group as seen from this rank (size 1 when not distributed)."""

    def __init__(self):
        self.size, self.rank = 1, 0
        self.group = None
        self.device = torch.device("cpu")
        if dist.is_available() and dist.is_initialized():
            self.group = distributed_utils.get_data_parallel_group()
            self.size = distributed_utils.get_data_parallel_world_size()
            self.rank = distributed_utils.get_data_parallel_rank()
            if dist.get_backend(self.group) == "nccl":
                self.device = torch.device("cuda", torch.cuda.current_device())

    @staticmethod
    def rounds(max_pairs):
        """Exchange rounds per step when no batch holds more than *max_pairs* pairs."""
        return max(1, math.ceil(max_pairs / PER_ROUND))

    def gather(self, ids, losses, ntokens, rounds):
        """Every rank's (ids, summed losses, target tokens) of this step (:func:`pack`), as a
        tensor ``[ranks, rounds, ROWS, FIELDS]`` on this rank's device; see :func:`unpack`. Only
        with several ranks (one rank learns from its own tensors)."""
        mine = pack(ids, losses, ntokens, rounds, self.device)
        out = torch.empty(self.size, rounds, ROWS, FIELDS, dtype=torch.int32, device=self.device)
        for i in range(rounds):
            dist.all_gather(list(out[:, i].unbind(0)), mine[i].contiguous(), group=self.group)
        return out

    def check_same(self, epoch, assistant_checksum, plan_checksum, batches):
        """Every rank must hold the same Assistant and plan, else their epochs would differ and
        training would hang: stop with an error naming every rank's values if they differ."""
        mine = [int(assistant_checksum), int(plan_checksum), int(batches)]
        every = self.agree(mine)
        if any(v != mine for v in every):
            raise RuntimeError(
                f"AutoAssist epoch {epoch}: the ranks' Assistants or plans differ (per rank: "
                f"Assistant checksum, plan checksum, batches): {every}")

    def agree(self, values):
        """All ranks' *values* (a list of ints), one list per rank, in rank order."""
        mine = torch.tensor([int(v) for v in values], dtype=torch.int64, device=self.device)
        if self.size == 1:
            return [mine.tolist()]
        out = [torch.empty_like(mine) for _ in range(self.size)]
        dist.all_gather(out, mine, group=self.group)
        return [t.cpu().tolist() for t in out]


def pack(ids, losses, ntokens, rounds, device=None):
    """One rank's (ids, summed losses, target tokens) of a step in the fixed-size exchange
    tensor ``[rounds, ROWS, FIELDS]``: per round a row with its record count, then its records."""
    n = len(ids)
    if n > rounds * PER_ROUND:
        raise RuntimeError(f"AutoAssist: a batch of {n} pairs exceeds the {rounds} exchange "
                           f"rounds planned for this epoch ({PER_ROUND} pairs each)")
    rec = torch.zeros(rounds * PER_ROUND, FIELDS, dtype=torch.int32, device=device)
    if n:
        rec[:n, 0] = ids.to(device, torch.int32)
        rec[:n, 1] = ntokens.to(device, torch.int32)
        rec[:n, 2] = losses.detach().to(device, torch.float32).view(torch.int32)
    mine = torch.zeros(rounds, ROWS, FIELDS, dtype=torch.int32, device=device)
    mine[:, 1:] = rec.view(rounds, PER_ROUND, FIELDS)
    mine[:, 0, 0] = (n - PER_ROUND * torch.arange(rounds, device=device)).clamp(0, PER_ROUND)
    return mine


def unpack(gathered):
    """``[(ids, losses, ntokens)]`` per rank, in rank order, from :meth:`Ranks.gather`'s tensor
    (on the host)."""
    out = []
    for rounds in np.asarray(gathered):
        counts = rounds[:, 0, 0]
        rec = np.concatenate([r[1:1 + c] for r, c in zip(rounds, counts)])
        out.append((rec[:, 0].astype(np.int64), rec[:, 2].view(np.float32).astype(np.float64),
                    rec[:, 1].astype(np.float64)))
    return out


def checksum(*arrays):
    """CRC-32 of the bytes of *arrays* (numpy arrays or numbers)."""
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(np.asarray(a)).tobytes(), crc)
    return crc
