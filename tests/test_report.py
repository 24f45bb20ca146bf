"""fairseq-autoassist-report: a real run on Multi30k with planted noise, its report read back, the
filtered text prepared again, and bad input."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import shared_data_dir
from runs import ARCHS, AUTOASSIST, OPTIM, log_records, run, train

PLANTED = 200
DEFAULT_RULE = AUTOASSIST[:AUTOASSIST.index("--assistant-rule")]  # infobatch
SMALL = ["--encoder-embed-dim", "64", "--decoder-embed-dim", "64", "--encoder-ffn-embed-dim",
         "128", "--decoder-ffn-embed-dim", "128"]  # the tiny transformer, 64-d


def report(data, checkpoint, out, *extra, check=True):
    return run(["fairseq-autoassist-report", data, "--path", checkpoint, "--out", out, *extra],
               check=check)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A 20,000-pair Multi30k subset with 200 pairs made misaligned (about 1%), a tiny
    transformer (64-d) trained 6 epochs on it with AutoAssist (the default rule), and its report
    with 200 pairs per list."""
    from data_prep.corrupt import corrupt
    from data_prep.prepare import prepare

    root = tmp_path_factory.mktemp("planted")
    clean = root / "clean"
    prepare(raw_dir=shared_data_dir() / "multi30k", src="de", tgt="en", dest=clean,
            train="train", valid="val", test="test_2016_flickr", vocab_size=2000,
            limit_train=20000, limit_valid=200, limit_test=100)
    pairs = json.loads((clean / "manifest.json").read_text())["counts"]["train"]["after"]
    data = root / "noisy"
    corrupt(clean, data, fraction=PLANTED / pairs, seed=1)
    _, log = train(data, root / "ck", *DEFAULT_RULE, *SMALL, "--max-epoch", "6",
                   "--no-epoch-checkpoints")
    out = root / "report"
    _, report_log = report(data, root / "ck" / "checkpoint_last.pt", out, "--top", str(PLANTED))
    return {"data": data, "pairs": pairs, "log": log, "out": out, "root": root,
            "report_log": report_log,
            "bad": set(json.loads((data / "corrupted.json").read_text())["ids"])}


def test_likely_noise_finds_most_planted_misaligned_pairs(planted):
    """The report's likely-noise list of 200 holds at least half of the 200 planted pairs (a random
    list holds about 2); its three lists are the pairs of pairs.csv with the extreme values."""
    result = json.loads((planted["out"] / "report.json").read_text())
    noise = [r["id"] for r in result["lists"]["likely_noise"]]
    assert len(noise) == PLANTED == len(planted["bad"])
    found = len(set(noise) & planted["bad"])
    random_expected = PLANTED * PLANTED / planted["pairs"]
    print(f"likely noise: {found} of {PLANTED} planted pairs in the top {PLANTED} "
          f"(random: {random_expected:.1f}); corpus {planted['pairs']} pairs")
    assert found >= PLANTED // 2

    with open(planted["out"] / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["id"]) for r in rows] == list(range(planted["pairs"]))
    noise_score = np.array([float(r["noise_score"]) for r in rows])
    loss = np.array([float(r["boss_loss"] or "inf") for r in rows])
    assert min(noise_score[noise]) >= np.sort(noise_score)[-PLANTED]
    trivial = [r["id"] for r in result["lists"]["trivial"]]
    assert max(loss[trivial]) <= np.sort(loss)[PLANTED - 1]
    # the planted pairs' sources help the Boss no more than other pairs' sources do
    other = np.array([float(r["other_source_loss"] or "nan") for r in rows])
    bad = np.array(sorted(planted["bad"]))
    clean = np.setdiff1d(np.arange(len(rows)), bad)
    assert np.nanmedian(other[bad] - loss[bad]) < 0.25 * np.nanmedian(other[clean] - loss[clean])


def test_report_matches_the_run(planted):
    """Keep rates per epoch as fairseq's epoch lines say, every pair once in pairs.csv, the
    Assistant's features as dictionary words, the plots, and report.md's sections."""
    result = json.loads((planted["out"] / "report.json").read_text())
    lines = {int(r["epoch"]): float(r["train_keep_rate"])
             for r in log_records(planted["log"], "train")}
    assert [r["epoch"] for r in result["epochs"]] == sorted(lines) == list(range(1, 7))
    for r in result["epochs"]:
        assert abs(r["keep_rate"] - lines[r["epoch"]]) < 1e-3
    assert min(lines.values()) < 1.0  # the run pruned
    assert result["pairs"] == planted["pairs"] and result["epoch"] == 6
    assert all(0 < r["assistant_auc"] < 1 for r in result["epochs"][1:])
    dict_words = {line.split()[0] for line in (planted["data"] / "dict.en.txt").read_text().splitlines()}
    for side in ("source", "target"):
        for label in ("hard", "easy"):
            feats = result["features"][side][label]
            assert len(feats) == 15 and all(f["token"] in dict_words for f in feats)
    hard = [f["weight"] for f in result["features"]["target"]["hard"]]
    assert hard == sorted(hard, reverse=True) and hard[0] > result["features"]["target"]["easy"][0]["weight"]
    assert sum(r["pairs"] for r in result["by_length"]) == planted["pairs"]
    for name in ("score_loss.png", "length.png", "epochs.png"):
        assert (planted["out"] / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (planted["out"] / "report.md").read_text()
    for heading in ("## Keep rate and Assistant per epoch", "## Is the Assistant more than a length "
                    "filter?", "## Likely noise", "## Most trivial pairs", "## Hardest learnable"):
        assert heading in md
    first = result["lists"]["likely_noise"][0]
    assert f"| {first['id']} |" in md and first["target"][:40].replace("|", "\\|") in md


def test_write_filtered_text_is_aligned_and_prepares(planted, tmp_path):
    """--write-filtered without the planted ids: every remaining pair is a pair of the raw
    Multi30k text, none is planted, and data_prep prepares the directory again."""
    from data_prep.prepare import prepare, read_lines

    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in sorted(planted["bad"])))
    raw = tmp_path / "raw"
    report(planted["data"], planted["root"] / "ck" / "checkpoint_last.pt", tmp_path / "rep",
           "--write-filtered", raw, "--drop-ids", ids, "--top", "5")
    de = (raw / "train.de").read_text(encoding="utf-8").splitlines()
    en = (raw / "train.en").read_text(encoding="utf-8").splitlines()
    assert len(de) == len(en) == planted["pairs"] - PLANTED
    shared = shared_data_dir() / "multi30k"
    pairs = set(zip(read_lines(shared / "train.de.gz"), read_lines(shared / "train.en.gz")))
    unmatched = sum(p not in pairs for p in zip(de, en))
    print(f"filtered pairs not in the raw text: {unmatched} of {len(de)}")
    assert unmatched <= 5, unmatched  # (0 measured; detokenization may differ in rare characters)
    assert (raw / "valid.en").read_text() == (planted["data"] / "valid.raw.en").read_text()
    dest = tmp_path / "bin"
    prepare(raw_dir=raw, src="de", tgt="en", dest=dest, train="train", valid="valid", test="test",
            vocab_size=2000)
    counts = json.loads((dest / "manifest.json").read_text())["counts"]
    assert counts["train"]["before"] == planted["pairs"] - PLANTED


def test_report_on_another_split(planted, tmp_path):
    """--subset valid: every valid pair reported with the training split's Assistant, no keep
    probability (the run never planned those pairs)."""
    out = tmp_path / "rep"
    report(planted["data"], planted["root"] / "ck" / "checkpoint_last.pt", out, "--subset", "valid",
           "--top", "5")
    result = json.loads((out / "report.json").read_text())
    assert result["subset"] == "valid" and result["pairs"] == 200
    with open(out / "pairs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 200 and all(r["keep_prob"] == "" and r["boss_loss"] for r in rows)
    assert 0.5 < result["selection"]["auc_assistant"] < 1.0


def test_bad_input_stops_with_a_clear_error(m30k, planted, tmp_path):
    """A checkpoint without an Assistant (the --assistant-off baseline, a stock translation run),
    a checkpoint on another corpus's dictionary, a file that is no checkpoint: exit 1, a named
    error, no traceback."""
    ck = tmp_path / "off"
    train(m30k, ck, *AUTOASSIST, "--assistant-off", "--max-update", "2", "--no-epoch-checkpoints")
    stock = tmp_path / "stock"
    train(m30k, stock, "--task", "translation", "--criterion", "label_smoothed_cross_entropy",
          "--max-update", "2", "--no-epoch-checkpoints")
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    ids = tmp_path / "ids.txt"
    ids.write_text("3\nfour\n")
    planted_ck = planted["root"] / "ck" / "checkpoint_last.pt"
    no_dict = tmp_path / "no_dict"  # the data directory without its target dictionary
    no_dict.mkdir()
    for f in Path(m30k).iterdir():
        if f.name != "dict.en.txt":
            (no_dict / f.name).symlink_to(f.resolve())
    cases = [
        (no_dict, planted_ck, [], f"{no_dict / 'dict.en.txt'}: not found"),
        (m30k, ck / "checkpoint_last.pt", [], "an --assistant-off run: it holds no Assistant"),
        (m30k, stock / "checkpoint_last.pt", [], "a checkpoint of --task translation"),
        (m30k, planted_ck, [], "are not those of the run"),
        (m30k, text, [], "not a fairseq checkpoint"),
        (m30k, tmp_path / "missing.pt", [], "no such file"),
        (planted["data"], planted_ck, ["--write-filtered", tmp_path / "f"],
         "--write-filtered needs --drop-ids"),
        (planted["data"], planted_ck, ["--write-filtered", tmp_path / "f", "--drop-ids", ids],
         "expected one pair id per line"),
    ]
    for data, checkpoint, extra, named in cases:
        rc, out = report(data, checkpoint, tmp_path / "rep", *extra, check=False)
        assert rc == 1, out[-3000:]
        assert "fairseq-autoassist-report: error:" in out and named in out, out[-3000:]
        assert "Traceback" not in out, out[-3000:]


def test_report_of_a_run_trained_without_languages(m30k, tmp_path):
    """A run trained as the README shows, without -s/-t: fairseq infers de-en from the data
    directory's file names and the checkpoint keeps no languages. The report reads it (on the
    valid split, for speed), and its language signal checks the text as de and en."""
    ck = tmp_path / "ck"
    run(["fairseq-train", m30k, *ARCHS["transformer"], *OPTIM, "--save-dir", ck, *DEFAULT_RULE,
         "--max-update", "2", "--no-epoch-checkpoints"])
    out = tmp_path / "rep"
    report(m30k, ck / "checkpoint_last.pt", out, "--subset", "valid", "--top", "5",
           "--other-sources", "1")
    result = json.loads((out / "report.json").read_text())
    pairs = json.loads((m30k / "manifest.json").read_text())["counts"]["valid"]["after"]
    assert result["pairs"] == pairs and result["num_updates"] == 2
    assert not [off for off in result["noise"]["signals_off"] if off.startswith("language")], \
        result["noise"]["signals_off"]


def test_out_of_range_drop_ids_stop_before_the_forward_passes(planted, tmp_path, monkeypatch):
    """--drop-ids naming a pair the split does not have stops with a named error right after the
    checkpoint is read, before the Boss's forward passes (minutes on a large corpus)."""
    from fairseq_autoassist_cli.report import boss, cli

    def forward_passes(*args, **kwargs):
        raise AssertionError("the Boss's forward passes ran before the ids were checked")

    monkeypatch.setattr(boss, "pair_losses", forward_passes)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"3\n{planted['pairs']}\n")  # ids run from 0 to pairs - 1
    with pytest.raises(SystemExit) as stop:
        cli.main([str(planted["data"]), "--path", str(planted["root"] / "ck" / "checkpoint_last.pt"),
                  "--out", str(tmp_path / "rep"), "--write-filtered", str(tmp_path / "f"),
                  "--drop-ids", str(ids)])
    assert str(stop.value) == (f"fairseq-autoassist-report: error: --drop-ids {ids}: ids out of "
                               f"range [0, {planted['pairs']}): [{planted['pairs']}]")


def test_report_scale_script_runs_the_report_without_a_boss(tmp_path):
    """scripts/report_scale.py (the timing of docs/data-report.md) drives write_report as the
    command does: a small synthetic corpus gives a pairs.csv with a row per pair."""
    out = tmp_path / "scale.json"
    run(["python", "-m", "scripts.experiment", "scale", "--pairs", "3000", "--vocab", "500", "--work",
         tmp_path / "work", "--out", out])
    record = json.loads(out.read_text())
    assert record["pairs"] == 3000 and "similar_sources" in record["seconds"]
    with open(tmp_path / "work" / "report" / "pairs.csv", newline="") as f:
        assert sum(1 for _ in csv.DictReader(f)) == 3000
