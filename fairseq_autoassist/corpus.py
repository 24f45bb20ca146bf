"""The corpus statistics of the Assistant's features (the IDF of each token, the mean sentence
lengths). With sharded data (``--data DIR_A:DIR_B:...``: fairseq trains shard (e - 1) mod n in
epoch e, loading one shard at a time) they are counted once, at start-up, over the training split
of every shard, so that the features mean the same in every epoch, whichever shard a (resumed)
run loads first; the shards' token files are memory-mapped, not read into memory."""

import logging

import numpy as np
from fairseq import utils
from fairseq.tasks.translation import load_langpair_dataset
from scipy import sparse

from .options import fail
from .tokens import PairTables

logger = logging.getLogger(__name__)

BLOCK = 1 << 16  # sentences counted at once


def shard_tables(cfg, tables, src_dict, tgt_dict):
    """[:class:`PairTables`] of the training split of every shard of the task config *cfg*;
    [*tables*] (the loaded split's) when the data has one shard."""
    paths = utils.split_paths(cfg.data) if cfg.data else []
    if len(paths) <= 1:
        return [tables]
    corpus = []
    for path in paths:
        dataset = load_langpair_dataset(
            path, cfg.train_subset, cfg.source_lang, src_dict, cfg.target_lang, tgt_dict,
            combine=True, dataset_impl=cfg.dataset_impl, upsample_primary=cfg.upsample_primary,
            left_pad_source=cfg.left_pad_source, left_pad_target=cfg.left_pad_target,
            max_source_positions=cfg.max_source_positions,
            max_target_positions=cfg.max_target_positions, truncate_source=cfg.truncate_source,
            shuffle=False)
        try:
            corpus.append(PairTables(dataset))
        except ValueError as e:
            fail(f"the training split {cfg.train_subset!r} of the shard {path}: {e}")
    logger.info("AutoAssist: the Assistant's IDF and mean lengths count all %d shards of the "
                "data (%s pairs)", len(paths), " + ".join(str(len(t)) for t in corpus))
    return corpus


def corpus_statistics(corpus, src_vocab, tgt_vocab, idf=True):
    """((mean source length, mean target length), (source IDF, target IDF) or (None, None)) of
    the sentence pairs of every :class:`PairTables` of *corpus*: ``idf(t) = log((1 + n) / (1 +
    df(t))) + 1`` over its n pairs."""
    n = sum(map(len, corpus))
    mean_len = tuple(max(sum(float(getattr(t, side).sizes.sum()) for t in corpus) / max(n, 1), 1.0)
                     for side in ("src", "tgt"))
    if not idf:
        return mean_len, (None, None)
    return mean_len, tuple(
        np.log((1.0 + n) / (1.0 + sum(document_frequency(getattr(t, side), vocab) for t in corpus)))
        + 1.0 for side, vocab in (("src", src_vocab), ("tgt", tgt_vocab)))


def document_frequency(table, vocab_size):
    """Number of sentences of *table* that contain each token id: per block of sentences, a
    sentence x token count matrix (scipy.sparse CSR) whose duplicate entries are merged row by
    row (a short sort per sentence, not one over the block), then its column counts."""
    df = np.zeros(vocab_size, dtype=np.int64)
    for lo in range(0, len(table), BLOCK):
        hi = min(lo + BLOCK, len(table))
        if table.in_order:  # the block's tokens are one slice of the flat array
            first = table.starts[lo]
            tok = table.flat[first:table.starts[hi - 1] + table.sizes[hi - 1]]
        else:
            tok, _ = table.gather(np.arange(lo, hi))
        indptr = np.zeros(hi - lo + 1, dtype=np.int64)
        np.cumsum(table.sizes[lo:hi], out=indptr[1:])
        counts = sparse.csr_matrix((np.ones(len(tok), dtype=np.int32), tok.astype(np.int32), indptr),
                                   shape=(hi - lo, vocab_size))
        counts.sum_duplicates()
        df += np.bincount(counts.indices, minlength=vocab_size)
    return df
