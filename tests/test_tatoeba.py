"""data_prep.tatoeba: the seeded split that keeps every sentence's pairs on one side."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
from helpers import REPO_ROOT, shared_data_dir, shared_file

from data_prep.tatoeba import read_tsv, sentence_groups, split_groups


def shared_tsv():
    return shared_file("tatoeba-de-en/en-de.tsv.gz")


def partition(labels):
    """The pairs' groups as a set of frozensets of pair indices (independent of numbering)."""
    groups = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), set()).add(i)
    return {frozenset(g) for g in groups.values()}


def test_groups_join_pairs_through_shared_sentences():
    # a-x, a-y share a; b-y joins them through y; c-z and e-z share z; d-w and d-v share d
    left = ["a", "a", "b", "c", "d", "d", "e", "f"]
    right = ["x", "y", "y", "z", "w", "v", "z", "u"]
    assert partition(sentence_groups(left, right)) == {
        frozenset({0, 1, 2}), frozenset({3, 6}), frozenset({4, 5}), frozenset({7})}


def test_split_of_the_shared_corpus_keeps_sentences_on_one_side():
    sides = read_tsv(shared_tsv())
    en, de = np.asarray(sides["en"], dtype=object), np.asarray(sides["de"], dtype=object)
    groups = sentence_groups(sides["de"], sides["en"])
    largest = np.bincount(groups).max()
    splits = split_groups(groups, 2000, 2000, seed=1)
    assert np.array_equal(splits, split_groups(groups, 2000, 2000, seed=1))  # seeded
    assert not np.array_equal(splits, split_groups(groups, 2000, 2000, seed=2))
    for split in (1, 2):
        assert 2000 - largest < (splits == split).sum() <= 2000
    for side in (en, de):
        train, valid, test = (set(side[splits == s]) for s in (0, 1, 2))
        assert not train & valid and not train & test and not valid & test


def test_recipe_prepares_a_split_with_no_held_out_sentence_in_training(tmp_path):
    with gzip.open(shared_tsv(), "rt", encoding="utf-8") as f:
        lines = f.readlines()[::10]  # 16,982 pairs, every length
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "en-de.tsv").write_text("".join(lines), encoding="utf-8")
    dest = tmp_path / "tatoeba_de_en"
    cmd = [sys.executable, "-m", "data_prep.tatoeba", "--raw-dir", raw, "--dest", dest,
           "--vocab-size", "1000", "--valid-pairs", "300", "--test-pairs", "300", "--split-seed", "3"]
    env = dict(os.environ, AUTOASSIST_SHARED_DATA=str(shared_data_dir()))
    result = subprocess.run([str(c) for c in cmd], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    manifest = json.loads((dest / "manifest.json").read_text())
    entry = manifest["tatoeba_split"]
    assert entry["split_seed"] == 3 and sum(entry["pairs"].values()) == len(lines)
    assert manifest["counts"]["valid"]["after"] == entry["pairs"]["valid"] <= 300
    assert manifest["counts"]["test"]["after"] == entry["pairs"]["test"] <= 300
    split_text = tmp_path / "tatoeba_de_en-work" / "split"
    for lang in ("de", "en"):
        train = (split_text / f"train.{lang}").read_text(encoding="utf-8").split("\n")[:-1]
        assert len(train) == entry["pairs"]["train"]
        train = set(train)
        for held_out in ("valid", "test"):
            references = (dest / f"{held_out}.raw.{lang}").read_text(encoding="utf-8").split("\n")[:-1]
            assert references and not train & set(references)

    again = subprocess.run([str(c) for c in cmd], cwd=REPO_ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "up to date" in again.stderr
