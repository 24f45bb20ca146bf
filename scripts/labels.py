"""The one reader of a corpus's noise labels: ``corrupted.json`` of ``data_prep.corrupt`` (the
planted pairs per kind; before the kinds existed it held only ``ids``, the misaligned pairs) or
``labels.json`` of ``data_prep.crawl_mixture`` (one label per training pair: ``clean`` or a
people's label such as V, A, L, MT)."""

import json
from pathlib import Path

import numpy as np

VALID = ("clean", "V")  # labels of pairs that are not noise: data_prep's clean pairs, valid crawl


class LabelError(Exception):
    """The labels file is missing or does not fit the corpus."""


def read_corrupted(path):
    """A loaded corrupted.json in today's format: ``{"all_ids": [...], "kinds": {kind: {"ids":
    [...]}}, ...}``; the older format (``{"ids": [...]}``, misaligned pairs only) is read as the
    misaligned kind."""
    record = json.loads(Path(path).read_text(encoding="utf-8"))
    if "kinds" not in record:
        ids = record["ids"]
        record = dict(record, kinds={"misaligned": {"ids": ids}}, all_ids=ids)
    record.setdefault("all_ids", sorted(i for k in record["kinds"].values() for i in k["ids"]))
    return record


def labels_path(data_or_file):
    """corrupted.json or labels.json: the file given, or the one in a data directory (the planted
    pairs first, for a corrupted copy of a labelled corpus); None when the directory has
    neither."""
    p = Path(data_or_file)
    if p.is_file():
        return p
    for name in ("corrupted.json", "labels.json"):
        if (p / name).is_file():
            return p / name
    return None


def pair_labels(data_or_file, pairs):
    """One label per training pair (*pairs* of them): labels.json's, or corrupted.json's kinds
    ('clean' elsewhere); None for a corpus without labels."""
    path = labels_path(data_or_file)
    if path is None:
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if "labels" in record:
        labels = np.asarray(record["labels"], dtype=object)
        if len(labels) != pairs:
            raise LabelError(f"{path} labels {len(labels)} pairs, the corpus has {pairs}")
        return labels
    out = np.full(pairs, "clean", dtype=object)
    for kind, entry in read_corrupted(path)["kinds"].items():
        out[np.asarray(entry["ids"], dtype=np.int64)] = kind
    return out


def noisy_ids(data_or_file, pairs=None):
    """The ids of the noisy pairs (every planted kind; crawl labels other than VALID), sorted, or
    None for a corpus without labels."""
    path = labels_path(data_or_file)
    if path is None:
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if "labels" in record:
        return np.flatnonzero(~np.isin(np.asarray(record["labels"]), VALID)).tolist()
    return sorted(read_corrupted(path)["all_ids"])


def drop_shares(dropped, data_or_file, pairs):
    """Of the pair ids *dropped* among *pairs* training pairs, or None for a corpus without
    labels. Planted noise (corrupted.json): how many, the share that were noise (precision), per
    kind the share of its pairs dropped (recall), the share of the clean pairs dropped and of every
    planted pair (recall_all). A labelled mixture (labels.json): how many and the share of each
    label's pairs dropped."""
    path = labels_path(data_or_file)
    if path is None:
        return None
    labels = pair_labels(path, pairs)
    dropped = np.asarray(dropped, dtype=np.int64)
    mask = np.isin(np.arange(pairs), dropped)
    if path.name == "labels.json" or "labels" in json.loads(path.read_text(encoding="utf-8")):
        return {"dropped": int(len(dropped)),
                "share_dropped": {str(lab): float(mask[labels == lab].mean())
                                  for lab in np.unique(labels.astype(str))}}
    noisy = labels != "clean"
    return {"dropped": int(len(dropped)),
            "precision": float(noisy[mask].mean()) if len(dropped) else None,
            "recall": {k: float(mask[labels == k].mean()) for k in read_corrupted(path)["kinds"]},
            "clean_dropped": float(mask[~noisy].mean()),
            "recall_all": float(mask[noisy].mean())}
