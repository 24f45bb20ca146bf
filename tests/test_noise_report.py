"""The report's noise score on real crawled noise and on planted copies: real fairseq-train runs of
a tiny transformer, the report on their checkpoints, scored against labels the report never sees.

Thresholds come from measured runs (stated at each assertion) less a margin for other hosts."""

import csv
import json
import os

import numpy as np
import pytest
from helpers import shared_data_dir, shared_file
from runs import ARCHS, AUTOASSIST, OPTIM, run

from scripts.noise_eval import auc

DEFAULT_RULE = AUTOASSIST[:AUTOASSIST.index("--assistant-rule")]  # infobatch


def train(data, save_dir, langs, epochs, *extra, arch=ARCHS["transformer"]):
    run(["fairseq-train", data, "-s", langs[0], "-t", langs[1], *arch, *OPTIM, *DEFAULT_RULE,
         "--save-dir", save_dir, "--max-epoch", str(epochs), "--no-epoch-checkpoints", *extra])
    return save_dir / "checkpoint_last.pt"


def report(data, checkpoint, out, *extra, check=True, env=None):
    return run(["fairseq-autoassist-report", data, "--path", checkpoint, "--out", out, "--top", "5",
                "--other-sources", "1", *extra], check=check, env=env)


def columns(out):
    with open(out / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] != "" else np.nan for r in rows]) for k in rows[0]}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    """2,000 Multi30k cs-en pairs with the first 2,000 human-labelled crawl pairs mixed in, a tiny
    transformer trained 3 epochs on them (keeping the loss history), and the report of its
    checkpoint with and without the language signal."""
    from data_prep import crawl_mixture

    shared_file("paracrawl-labelled-en-cs/pairs.tsv.gz")
    root = tmp_path_factory.mktemp("crawl")
    data = root / "bin"
    assert crawl_mixture.main(["--dest", str(data), "--clean-limit", "2000", "--crawl-limit", "2000",
                               "--vocab-size", "2000", "--limit-valid", "200",
                               "--limit-test", "100"]) == 0
    ckpt = train(data, root / "ck", ("cs", "en"), 3, "--assistant-loss-history")
    report(data, ckpt, root / "rep")
    report(data, ckpt, root / "rep-nolang", "--no-language-signal")
    labels = np.array(json.loads((data / "labels.json").read_text())["labels"])
    return {"labels": labels, "with": columns(root / "rep"), "without": columns(root / "rep-nolang"),
            "report": json.loads((root / "rep" / "report.json").read_text()), "root": root}


def _auc(cols, labels, noisy, name="noise_score"):
    rows = np.isin(labels, noisy) | (labels == "V")
    return auc(cols[name][rows], np.isin(labels, noisy)[rows])


def test_crawl_noise_score_ranks_misaligned_and_wrong_language_below_valid(crawl):
    """A+L against V among the labelled crawl pairs of this small run: measured AUC 0.673 (0.600
    before the Boss's weight; the report's heuristic filter 0.616; bicleaner on all 4,000 pairs: 0.774); the test requires 0.56,
    well above chance (0.5)."""
    score = _auc(crawl["with"], crawl["labels"], ("A", "L"))
    heuristic = _auc(crawl["with"], crawl["labels"], ("A", "L"), "heuristic_flags")
    print(f"A+L vs V: noise score AUC {score:.3f}, heuristic filter {heuristic:.3f}")
    assert score >= 0.56


def test_language_signal_finds_wrong_language_pairs(crawl):
    """L against V: the language signal carries it (measured AUC 0.863 with it, 0.642 with
    --no-language-signal; 0.825 and 0.532 before the Boss's weight); a noise score that drops the
    signal fails here."""
    with_lang = _auc(crawl["with"], crawl["labels"], ("L",))
    without = _auc(crawl["without"], crawl["labels"], ("L",))
    print(f"L vs V: noise score AUC {with_lang:.3f} with the language signal, {without:.3f} without")
    assert with_lang >= 0.78 and with_lang - without >= 0.2
    assert crawl["report"]["noise"]["signals_off"] == {}


def test_loss_history_holds_every_trained_pair_once_per_epoch(crawl):
    """The report's history columns: a pair's epochs_seen counts the epochs whose plan kept it
    (their sum: the kept pairs of the plan records); its losses are known exactly then."""
    from fairseq_autoassist.records import read_records

    cols = crawl["with"]
    kept = [r["kept_pairs"] for r in read_records(crawl["root"] / "ck") if r["event"] == "complete"]
    assert len(kept) == 3 and cols["epochs_seen"].sum() == sum(kept)
    assert (cols["epochs_seen"] >= 1).all()  # the first epoch trains every pair
    for name in ("loss_mean", "loss_spread", "relative_loss"):
        assert np.isfinite(cols[name]).all(), name
    assert (np.isfinite(cols["loss_drop"]) == (cols["epochs_seen"] >= 2)).all()


@pytest.fixture(scope="module")
def copies(m30k, tmp_path_factory):
    """The 2,000-pair m30k subset with 10% of its targets replaced by a copy of their source and
    10% misaligned, a tiny transformer trained 3 epochs, and its report."""
    from data_prep.corrupt import main as corrupt

    root = tmp_path_factory.mktemp("copies")
    data = root / "bin"
    assert corrupt(["--src-dir", str(m30k), "--dest", str(data), "--untranslated", "0.1",
                    "--misaligned", "0.1", "--seed", "1"]) == 0
    ckpt = train(data, root / "ck", ("de", "en"), 3)
    report(data, ckpt, root / "rep")
    report(data, ckpt, root / "rep-nolang", "--no-language-signal")
    kinds = json.loads((data / "corrupted.json").read_text())["kinds"]
    return {"cols": columns(root / "rep"), "nolang": columns(root / "rep-nolang"),
            "kinds": {k: np.array(v["ids"]) for k, v in kinds.items()},
            "data": data, "ckpt": ckpt, "root": root}


def test_copy_signal_puts_untranslated_pairs_at_the_top(copies):
    """Every copied pair has copy share 1; the noise score's top N (N = the copies) holds them,
    with the language signal (which sees the source language on the target side) and without it,
    where the copy signal alone carries them (measured 1.000 and 0.930; 1.000 and 1.000 before the
    Boss's weight, when the data signals' order did not lower a copy of ordinary length; 0.060
    without the language signal when the copy signal is dropped from the noise score)."""
    ids = copies["kinds"]["untranslated"]
    assert (copies["cols"]["copy"][ids] == 1.0).all()
    found = {}
    for name in ("cols", "nolang"):
        top = np.argsort(-copies[name]["noise_score"], kind="stable")[:len(ids)]
        found[name] = np.isin(ids, top).mean()
    print(f"copies in the noise score's top {len(ids)}: {found['cols']:.3f}, "
          f"without the language signal {found['nolang']:.3f}")
    assert found["cols"] >= 0.9 and found["nolang"] >= 0.9


def test_copy_signal_is_off_without_a_joined_dictionary(tmp_path):
    """A corpus with one dictionary per language: the report says the copy signal is off and
    leaves its column empty."""
    from data_prep.prepare import prepare

    data = tmp_path / "bin"
    prepare(raw_dir=shared_data_dir() / "multi30k", src="de", tgt="en", dest=data, train="train",
            valid="val", test="test_2016_flickr", vocab_size=300, joined=False, limit_train=300,
            limit_valid=20, limit_test=10)
    arch = [a for a in ARCHS["transformer"] if a != "--share-all-embeddings"]
    ckpt = train(data, tmp_path / "ck", ("de", "en"), 1, arch=arch)
    report(data, ckpt, tmp_path / "rep")
    result = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert "no joined dictionary" in result["noise"]["signals_off"]["copy"]
    assert "--assistant-loss-history" in result["noise"]["signals_off"]["loss history"]
    assert np.isnan(columns(tmp_path / "rep")["copy"]).all()
    assert "Signal off: copy" in (tmp_path / "rep" / "report.md").read_text()


def test_missing_language_package_is_a_clear_error(copies, tmp_path):
    """py3langid not importable: exit 1 before the forward passes, naming the package and its
    install command, no traceback."""
    fake = tmp_path / "site"
    (fake / "py3langid").mkdir(parents=True)
    (fake / "py3langid" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])}
    code, out = report(copies["data"], copies["ckpt"], tmp_path / "rep", check=False, env=env)
    assert code == 1, out
    assert "fairseq-autoassist-report: error: the language signal needs the package py3langid: " \
           "pip install py3langid" in out
    assert "Traceback" not in out


DATA_SIGNAL_COLUMNS = ("copy", "src_language", "tgt_language", "length_ratio", "duplicates")


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory):
    """1,000 Multi30k cs-en pairs with the first 2,000 human-labelled crawl pairs mixed in, a tiny
    transformer trained 40 updates (a Boss that barely uses its source: the report does not trust
    its contrasts), and the report of its checkpoint."""
    from data_prep import crawl_mixture

    shared = shared_data_dir()
    shared_file("paracrawl-labelled-en-cs/pairs.tsv.gz")
    root = tmp_path_factory.mktemp("untrusted")
    data = root / "bin"
    assert crawl_mixture.main(["--dest", str(data), "--clean-dir", str(shared / "multi30k"),
                               "--crawl", str(shared / "paracrawl-labelled-en-cs" / "pairs.tsv.gz"),
                               "--clean-limit", "1000", "--crawl-limit", "2000",
                               "--vocab-size", "1000", "--limit-valid", "100",
                               "--limit-test", "10"]) == 0
    ckpt = train(data, root / "ck", ("cs", "en"), 1, "--max-update", "40")
    report(data, ckpt, root / "rep")
    labels = np.array(json.loads((data / "labels.json").read_text())["labels"])
    return {"labels": labels, "cols": columns(root / "rep"),
            "report": json.loads((root / "rep" / "report.json").read_text())}


def test_untrusted_noise_score_ranks_no_worse_than_its_best_data_signal(untrusted):
    """With a Boss the report does not trust, the noise score rests on the data signals and ranks
    A+L against V at least as well as the best of them, less 0.01. Measured: 0.671 against the best
    signal's (length_ratio) 0.653; 0.604 before the Boss's weight (2b7d10a: the barely trained
    Boss's contrast, times its small trust, ordered the pairs without data evidence)."""
    noise = untrusted["report"]["noise"]
    assert noise["gain_valid_median"] < noise["trust_gain"] and "warning" in noise
    signals = {name: _auc(untrusted["cols"], untrusted["labels"], ("A", "L"), name)
               for name in DATA_SIGNAL_COLUMNS}
    best = max(signals, key=signals.get)
    score = _auc(untrusted["cols"], untrusted["labels"], ("A", "L"))
    print(f"Boss's median gain {noise['gain_valid_median']:.3f}, weight {noise['boss_weight']:.3f}")
    print(f"A+L vs V: noise score AUC {score:.3f}; data signals "
          + ", ".join(f"{k} {v:.3f}" for k, v in signals.items()))
    assert score >= signals[best] - 0.01, (score, best, signals[best])
