"""Tests for the kinds of noise of data_prep.corrupt, on a small prepared Multi30k de-en subset.

Each kind is checked against what it promises, with the expected values computed here from the
clean corpus (fairseq's dataset reader, the dictionaries and sentencepiece), not by data_prep.
"""

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, shared_data_dir

if str(REPO_ROOT) not in sys.path:  # data_prep is imported from the checkout
    sys.path.insert(0, str(REPO_ROOT))

from data_prep import corrupt  # noqa: E402
from data_prep.prepare import normalize, prepare  # noqa: E402

PREFIX = "train.de-en"
FRACTIONS = {"misaligned": 0.05, "near_miss": 0.05, "misordered": 0.05, "wrong_language": 0.06,
             "untranslated": 0.04, "untranslated_reverse": 0.04, "short": 0.05, "templated": 0.06}  # fmt: skip
WORD_START = "\u2581"


def m30k_file(name):
    return shared_data_dir() / "multi30k" / name


def other_language_files():
    return [m30k_file("train.fr.gz"), m30k_file("train.cs.gz")]


def kind_args(fractions, seed=3):
    args = ["--seed", str(seed)]
    for kind, value in fractions.items():
        args += ["--" + kind.replace("_", "-"), str(value)]
    if "wrong_language" in fractions:
        args += ["--other-language", *map(str, other_language_files())]
    return args


def run_corrupt(src_dir, dest, *args):
    assert corrupt.main(["--src-dir", str(src_dir), "--dest", str(dest), *map(str, args)]) == 0
    return json.loads((dest / "corrupted.json").read_text()), json.loads((dest / "manifest.json").read_text())


def side(corpus, lang):
    """The training sentences of one side as lists of token ids (through fairseq's reader)."""
    from fairseq.data import indexed_dataset

    ds = indexed_dataset.MMapIndexedDataset(str(Path(corpus) / f"{PREFIX}.{lang}"))
    return [ds[i].tolist() for i in range(len(ds))]


def word_count(tokens, starts):
    """Words of a sentence without its eos: word-start pieces, plus a leading piece without one."""
    body = tokens[:-1]
    return sum(starts[t] for t in body) + (bool(body) and not starts[body[0]])


def words(tokens, starts):
    """The sorted words of a sentence without its eos (tuples of token ids)."""
    out = []
    for t in tokens[:-1]:
        if starts[t] or not out:
            out.append([])
        out[-1].append(t)
    return sorted(map(tuple, out))


# ----------------------------------------------------------------------------
# fixtures: a joined and a non-joined corpus, and one noisy copy with every kind
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    """1,500 Multi30k de-en training pairs (a few dropped by cleaning), joined vocabulary of 1000."""
    dest = tmp_path_factory.mktemp("kinds") / "joined"
    prepare(raw_dir=shared_data_dir() / "multi30k", src="de", tgt="en", dest=dest, train="train", valid="val",
            test="test_2016_flickr", vocab_size=1000, limit_train=1500, limit_valid=20, limit_test=20)
    return dest


@pytest.fixture(scope="module")
def separate(tmp_path_factory):
    """200 pairs with one sentencepiece model and dictionary per language (--no-joined)."""
    dest = tmp_path_factory.mktemp("kinds") / "separate"
    prepare(raw_dir=shared_data_dir() / "multi30k", src="de", tgt="en", dest=dest, train="train", valid="val",
            test="test_2016_flickr", vocab_size=300, joined=False, limit_train=200, limit_valid=10,
            limit_test=10)
    return dest


@pytest.fixture(scope="module")
def vocab(joined):
    from fairseq.data import Dictionary

    d = Dictionary.load(str(joined / "dict.en.txt"))
    starts = [i >= d.nspecial and s.startswith(WORD_START) for i, s in enumerate(d.symbols)]
    return d, starts


@pytest.fixture(scope="module")
def noisy(joined, tmp_path_factory):
    """Every kind at once, through the command line; the clean and noisy sides and the records."""
    dest = tmp_path_factory.mktemp("kinds") / "noisy"
    record, manifest = run_corrupt(joined, dest, *kind_args(FRACTIONS))
    clean = {lang: side(joined, lang) for lang in ("de", "en")}
    new = {lang: side(dest, lang) for lang in ("de", "en")}
    return dict(dest=dest, record=record, manifest=manifest, kinds=record["kinds"], clean=clean, new=new)


# ----------------------------------------------------------------------------
# the records
# ----------------------------------------------------------------------------


def test_kinds_are_disjoint_and_recorded_with_their_counts(noisy):
    n = len(noisy["clean"]["en"])
    kinds, entry = noisy["kinds"], noisy["manifest"]["corrupted"]
    assert set(kinds) == set(FRACTIONS)
    seen = set()
    for kind, fraction in FRACTIONS.items():
        ids = kinds[kind]["ids"]
        assert len(ids) == round(fraction * n) and len(set(ids)) == len(ids), kind
        assert all(0 <= i < n for i in ids)
        assert not seen & set(ids), f"{kind} shares pairs with another kind"
        seen |= set(ids)
        for key, values in kinds[kind].items():
            assert len(values) == len(ids), (kind, key)  # detail lists run parallel to the ids
        assert entry["kinds"][kind]["count"] == len(ids)
        assert entry["kinds"][kind]["fraction"] == pytest.approx(len(ids) / n)
    assert noisy["record"]["all_ids"] == sorted(seen)
    assert entry["count"] == len(seen) and entry["train_pairs"] == n
    assert entry["fraction"] == pytest.approx(sum(FRACTIONS.values()))
    # the old keys still mean the misaligned pairs
    assert noisy["record"]["ids"] == kinds["misaligned"]["ids"]
    assert noisy["record"]["target_from"] == kinds["misaligned"]["target_from"]


def test_untouched_pairs_and_other_files_are_byte_identical(noisy, joined):
    dest = noisy["dest"]
    corrupted = set(noisy["record"]["all_ids"])
    for lang in ("de", "en"):
        clean, new = noisy["clean"][lang], noisy["new"][lang]
        assert len(new) == len(clean)
        assert all(new[i] == clean[i] for i in range(len(clean)) if i not in corrupted), lang
        # the same integer width on disk, so the untouched pairs are the same bytes
        assert (dest / f"{PREFIX}.{lang}.idx").read_bytes()[:18] == (joined / f"{PREFIX}.{lang}.idx").read_bytes()[:18]
    for name in ["dict.de.txt", "dict.en.txt", "spm.model", "spm.vocab", "valid.raw.en", "test.raw.de",
                 *(f"{split}.de-en.{lang}.{ext}" for split in ("valid", "test") for lang in ("de", "en")
                   for ext in ("bin", "idx"))]:  # fmt: skip
        assert (dest / name).read_bytes() == (joined / name).read_bytes(), name


# ----------------------------------------------------------------------------
# each kind makes what it says
# ----------------------------------------------------------------------------


def test_misaligned_pairs_take_another_chosen_pairs_target(noisy):
    k = noisy["kinds"]["misaligned"]
    clean, new = noisy["clean"], noisy["new"]
    assert sorted(k["target_from"]) == k["ids"]  # a permutation of the chosen pairs' targets
    for i, donor in zip(k["ids"], k["target_from"]):
        assert donor != i
        assert new["en"][i] == clean["en"][donor] and new["de"][i] == clean["de"][i]


def test_near_miss_donors_share_source_words(noisy, vocab):
    k = noisy["kinds"]["near_miss"]
    clean, new = noisy["clean"], noisy["new"]
    nspecial = vocab[0].nspecial

    def shared(i, j):
        return len({t for t in clean["de"][i] if t >= nspecial} & {t for t in clean["de"][j] if t >= nspecial})

    for i, donor in zip(k["ids"], k["target_from"]):
        assert donor != i and clean["de"][donor] != clean["de"][i] and clean["en"][donor] != clean["en"][i]
        assert new["en"][i] == clean["en"][donor] and new["de"][i] == clean["de"][i]
    rng = np.random.default_rng(0)
    n = len(clean["de"])
    near = np.mean([shared(i, j) for i, j in zip(k["ids"], k["target_from"])])
    random = np.mean([shared(i, int(j)) for i in k["ids"] for j in rng.integers(n, size=20) if j != i])
    assert near > 1.5 * random and near >= 3, (near, random)


def test_misordered_targets_are_the_same_tokens_in_another_order(noisy, vocab):
    d, starts = vocab
    clean, new = noisy["clean"], noisy["new"]
    for i in noisy["kinds"]["misordered"]["ids"]:
        before, after = clean["en"][i], new["en"][i]
        assert Counter(after) == Counter(before) and after != before
        assert after[-1] == d.eos() and d.eos() not in after[:-1]
        assert word_count(before, starts) >= 2
        assert new["de"][i] == clean["de"][i]
        if starts[before[0]]:  # every word starts with a word-start piece: whole words moved
            assert words(after, starts) == words(before, starts)


def test_wrong_language_targets_are_the_recorded_lines(noisy, vocab, joined):
    import sentencepiece as spm

    d, _ = vocab
    k = noisy["kinds"]["wrong_language"]
    files = {str(p) for p in other_language_files()}
    assert set(k["file"]) == files
    per_file = Counter(k["file"])
    assert max(per_file.values()) - min(per_file.values()) <= 1  # equal parts
    texts = {}
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
            texts[path] = [line.rstrip("\n") for line in f]
    sp = spm.SentencePieceProcessor(model_file=str(joined / "spm.model"))
    clean, new = noisy["clean"], noisy["new"]
    exact = 0
    for i, path, line in zip(k["ids"], k["file"], k["line"]):
        text = normalize(texts[path][line - 1])
        assert text
        target = new["en"][i]
        assert new["de"][i] == clean["de"][i] and target != clean["en"][i]
        # the line's sentencepiece pieces looked up in the target dictionary, unknown ones <unk>
        assert target == [d.index(p) for p in sp.encode(text, out_type=str)] + [d.eos()]
        if d.unk() not in target:
            assert sp.decode([d[t] for t in target[:-1]]) == text
            exact += 1
    assert exact >= 10  # French lines are mostly covered by the de-en vocabulary


def test_untranslated_copies_one_side_onto_the_other(noisy):
    clean, new = noisy["clean"], noisy["new"]
    for i in noisy["kinds"]["untranslated"]["ids"]:
        assert new["en"][i] == clean["de"][i] != clean["en"][i]
        assert new["de"][i] == clean["de"][i]
    for i in noisy["kinds"]["untranslated_reverse"]["ids"]:
        assert new["de"][i] == clean["en"][i] != clean["de"][i]
        assert new["en"][i] == clean["en"][i]


def test_short_pairs_keep_their_first_2_to_5_words(noisy, vocab):
    d, starts = vocab
    k = noisy["kinds"]["short"]
    clean, new = noisy["clean"], noisy["new"]
    for i, words in zip(k["ids"], k["words"]):
        for lang in ("de", "en"):
            before, after = clean[lang][i], new[lang][i]
            assert 2 <= word_count(after, starts) <= 5 and word_count(after, starts) == words
            assert len(after) < len(before) and after[-1] == d.eos()
            assert after[:-1] == before[: len(after) - 1]  # a prefix of the old sentence...
            assert starts[before[len(after) - 1]]  # ...cut where a word starts
    assert set(k["words"]) == {2, 3, 4, 5}


def test_templated_groups_reorder_their_base_pair(noisy, vocab):
    d, _ = vocab
    k = noisy["kinds"]["templated"]
    clean, new = noisy["clean"], noisy["new"]
    groups = Counter(k["base"])
    assert all(5 <= size <= 20 for size in groups.values()) and sum(groups.values()) == len(k["ids"])
    corrupted = set(noisy["record"]["all_ids"])
    for base in groups:
        assert base not in corrupted and new["de"][base] == clean["de"][base]
    differs = 0
    for i, base in zip(k["ids"], k["base"]):
        assert i != base
        for lang in ("de", "en"):
            assert Counter(new[lang][i]) == Counter(clean[lang][base]) and new[lang][i][-1] == d.eos()
            differs += new[lang][i] != clean[lang][base]
    assert differs > len(k["ids"])  # the words are really reordered (most sides differ from the base)


# ----------------------------------------------------------------------------
# seeds, aliases, --mixed
# ----------------------------------------------------------------------------


def test_same_seed_same_output(noisy, joined, tmp_path):
    again = tmp_path / "again"
    record, _ = run_corrupt(joined, again, *kind_args(FRACTIONS))
    assert record == noisy["record"]
    for lang in ("de", "en"):
        for ext in ("bin", "idx"):
            name = f"{PREFIX}.{lang}.{ext}"
            assert (again / name).read_bytes() == (noisy["dest"] / name).read_bytes(), name
    other, _ = run_corrupt(joined, tmp_path / "other", *kind_args(FRACTIONS, seed=4))
    assert other["all_ids"] != record["all_ids"]


def test_fraction_is_an_alias_of_misaligned(joined, tmp_path):
    a, manifest = run_corrupt(joined, tmp_path / "a", "--fraction", "0.1", "--seed", "2")
    b, _ = run_corrupt(joined, tmp_path / "b", "--misaligned", "0.1", "--seed", "2")
    corrupt.corrupt(joined, tmp_path / "c", fraction=0.1, seed=2)
    c = json.loads((tmp_path / "c" / "corrupted.json").read_text())
    assert a == b == c and set(a["kinds"]) == {"misaligned"}
    assert manifest["corrupted"]["count"] == len(a["ids"]) and manifest["corrupted"]["fraction"] == 0.1
    for name in (f"{PREFIX}.en.bin", f"{PREFIX}.en.idx"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # without any kind: 20% misaligned, as before
    d, _ = run_corrupt(joined, tmp_path / "d")
    assert set(d["kinds"]) == {"misaligned"} and len(d["ids"]) == round(0.2 * len(side(joined, "en")))


def test_mixed_spreads_its_fraction_over_the_kinds(joined, separate, tmp_path):
    n = len(side(joined, "en"))
    record, manifest = run_corrupt(joined, tmp_path / "mixed", "--mixed", "0.35", "--other-language",
                                   *other_language_files())
    counts = {kind: len(v["ids"]) for kind, v in record["kinds"].items()}
    assert set(counts) == {"misaligned", "near_miss", "misordered", "wrong_language", "untranslated", "short",
                           "templated"}  # fmt: skip
    assert sum(counts.values()) == round(0.35 * n) and max(counts.values()) - min(counts.values()) <= 1
    assert manifest["corrupted"]["mixed"] == 0.35
    assert {k: v["count"] for k, v in manifest["corrupted"]["kinds"].items()} == counts
    # no --other-language: no wrong_language; a non-joined corpus: no untranslated
    record, _ = run_corrupt(joined, tmp_path / "mixed2", "--mixed", "0.3")
    assert "wrong_language" not in record["kinds"] and "untranslated" in record["kinds"]
    record, _ = run_corrupt(separate, tmp_path / "mixed3", "--mixed", "0.5")
    assert set(record["kinds"]) == {"misaligned", "near_miss", "misordered", "short", "templated"}
    assert all(len(v["ids"]) == 20 for v in record["kinds"].values())


# ----------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("corpus, args, message", [
    ("joined", ["--misaligned", "0.6", "--short", "0.5"], "add up to 1.1 > 1"),
    ("joined", ["--short", "1.5"], "[0, 1]"),
    ("separate", ["--untranslated", "0.1"], "joined dictionary"),
    ("separate", ["--untranslated-reverse", "0.1", "--misaligned", "0.1"], "joined dictionary"),
    ("joined", ["--wrong-language", "0.1"], "--other-language"),
    ("joined", ["--near-miss", "0.0001"], "corrupts 0 pair"),
    ("joined", ["--templated", "0.002"], "fewer than the 5"),
    ("joined", ["--mixed", "0.2", "--short", "0.1"], "cannot be combined"),
    ("joined", ["--other-language", "x.gz", "--misaligned", "0.1"], "only used by"),
    ("joined", ["--near-miss", "0"], "nothing to corrupt"),
])  # fmt: skip
def test_bad_input_exits_1(corpus, args, message, request, tmp_path, capsys):
    src_dir = request.getfixturevalue(corpus)
    dest = tmp_path / "noisy"
    assert corrupt.main(["--src-dir", str(src_dir), "--dest", str(dest), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written, no partial directory left


def test_bad_input_on_the_command_line(joined, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "data_prep.corrupt", "--src-dir", str(joined), "--dest", str(tmp_path / "x"),
         "--misaligned", "0.7", "--templated", "0.4"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1 and "error: the fractions add up to 1.1 > 1" in result.stderr, result.stderr


def test_subset_drops_exactly_the_given_pairs(joined, tmp_path):
    """data_prep.subset: the kept pairs' tokens in their old order, the same dictionaries and
    valid/test splits, train.lines following the kept pairs; --drop-corrupted drops every pair
    corrupt recorded; bad ids and an existing destination stop with an error."""
    from data_prep import subset

    noisy = tmp_path / "noisy"
    record, _ = run_corrupt(joined, noisy, "--untranslated", 0.1, "--seed", 1)
    oracle = tmp_path / "oracle"
    assert subset.main(["--src-dir", str(noisy), "--dest", str(oracle), "--drop-corrupted"]) == 0
    drop = set(record["all_ids"])
    n = len(side(noisy, "de"))
    kept = [i for i in range(n) if i not in drop]
    for lang in ("de", "en"):
        before, after = side(noisy, lang), side(oracle, lang)
        assert after == [before[i] for i in kept]
        assert (oracle / f"dict.{lang}.txt").read_bytes() == (noisy / f"dict.{lang}.txt").read_bytes()
    for split in ("valid", "test"):
        assert (oracle / f"{split}.de-en.en.bin").read_bytes() == \
            (noisy / f"{split}.de-en.en.bin").read_bytes()
    lines = (noisy / "train.lines").read_text().split()
    assert (oracle / "train.lines").read_text().split() == [lines[i] for i in kept]
    assert not (oracle / "corrupted.json").exists()
    ids = tmp_path / "ids.txt"
    ids.write_text(f"0\n{n}\n")
    assert subset.main(["--src-dir", str(noisy), "--dest", str(tmp_path / "bad"), "--drop-ids",
                        str(ids)]) == 1
    ids.write_text("0\n")
    assert subset.main(["--src-dir", str(noisy), "--dest", str(oracle), "--drop-ids", str(ids)]) == 1
