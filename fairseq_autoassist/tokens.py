"""Flat, read-only views of a fairseq dataset's token ids, so that the Assistant computes its
features for many sentence pairs at once (gather + segment sums) without a Python loop per pair
and without a corpus-sized feature matrix."""

import logging

import numpy as np
from fairseq.data import LanguagePairDataset
from fairseq.data.indexed_dataset import MMapIndexedDataset

logger = logging.getLogger(__name__)


class TokenTable:
    """All sentences of one side of a corpus as one flat id array plus offsets.

    For fairseq's default ``mmap`` binaries the array is the memory-mapped ``.bin`` file itself
    (no copy). Any other dataset is read once, item by item, at start-up.
    """

    def __init__(self, dataset, sizes):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        if isinstance(dataset, MMapIndexedDataset):
            dtype = np.dtype(dataset._index.dtype)
            self.flat = np.frombuffer(dataset._bin_buffer, dtype=dtype)
            self.mapped = dataset  # holds the memory map open (the dataset closes it when freed)
            self.starts = np.asarray(dataset._index._pointers, dtype=np.int64) // dtype.itemsize
        else:
            logger.info("AutoAssist: reading %d sentences once to index their tokens", len(self.sizes))
            items = [dataset[i].numpy() for i in range(len(self.sizes))]
            self.sizes = np.array([len(x) for x in items], dtype=np.int64)
            self.flat = np.concatenate(items) if items else np.zeros(0, dtype=np.int64)
            self.starts = np.zeros(len(items), dtype=np.int64)
            np.cumsum(self.sizes[:-1], out=self.starts[1:])

        if len(self.sizes) and self.starts[-1] + self.sizes[-1] > len(self.flat):
            raise ValueError(f"its token file is truncated: it holds {len(self.flat)} tokens, its "
                             f"index points to {int(self.starts[-1] + self.sizes[-1])}")
        # fairseq's binaries store sentence after sentence: sums over consecutive sentences can
        # then run over the flat array in place (see sums_in_order)
        self.in_order = bool(np.array_equal(self.starts[1:], self.starts[:-1] + self.sizes[:-1]))

    def __len__(self):
        return len(self.sizes)

    def sums_in_order(self, weights, lo, hi):
        """``sum(weights[t] for t in sentence i)`` for the sentences ``lo <= i < hi``, read
        straight from the flat array (needs ``in_order``): two passes over the tokens, no index
        arrays."""
        sizes = self.sizes[lo:hi]
        first = self.starts[lo] if hi > lo else 0
        end = self.starts[hi - 1] + sizes[-1] if hi > lo else 0
        vals = weights[self.flat[first:end]]
        out = np.zeros(hi - lo)
        nonempty = np.flatnonzero(sizes)
        if len(nonempty):
            out[nonempty] = np.add.reduceat(vals, self.starts[lo:hi][nonempty] - first)
        return out

    def gather(self, indices):
        """Token ids of the sentences *indices*, concatenated (in the binary's integer type), and
        the position in *indices* each token belongs to (its segment)."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.sizes[indices]
        seg = np.repeat(np.arange(len(indices), dtype=np.int64), lengths)
        ends = np.cumsum(lengths)
        pos = np.arange(ends[-1] if len(ends) else 0, dtype=np.int64)
        pos += np.repeat(self.starts[indices] - (ends - lengths), lengths)
        return self.flat[pos], seg


class PairTables:
    """Source and target :class:`TokenTable` of a :class:`LanguagePairDataset`."""

    def __init__(self, dataset):
        if not isinstance(dataset, LanguagePairDataset) or dataset.tgt is None:
            raise ValueError(
                "autoassist_translation needs a parallel LanguagePairDataset with targets "
                f"for its training split, got {type(dataset).__name__}"
            )
        self.src = _table("source", dataset.src, dataset.src_sizes)
        self.tgt = _table("target", dataset.tgt, dataset.tgt_sizes)

    def __len__(self):
        return len(self.src)


def _table(side, dataset, sizes):
    try:
        return TokenTable(dataset, sizes)
    except ValueError as e:
        raise ValueError(f"{side} side: {e}") from e
