"""Tests for data_prep: offline, on small subsets of the shared data.

Recipes and bad-input cases run as subprocesses (``python -m data_prep.X``) so
that exit statuses and messages are checked as a user sees them.
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import REPO_ROOT, shared_data_dir

if str(REPO_ROOT) not in sys.path:  # data_prep is imported from the checkout
    sys.path.insert(0, str(REPO_ROOT))

from data_prep import fetch  # noqa: E402
from data_prep.prepare import PrepareError, normalize, prepare  # noqa: E402

SMALL = ["--vocab-size", "1000", "--limit-train", "2000", "--limit-valid", "200", "--limit-test", "200"]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def run(module, *args):
    """Run ``python -m data_prep.MODULE ARGS`` from the repository root, with the shared data set."""
    env = dict(os.environ, AUTOASSIST_SHARED_DATA=str(shared_data_dir()))
    cmd = [sys.executable, "-m", f"data_prep.{module}", *map(str, args)]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def train_one_step(dest, src, tgt):
    cmd = [
        "fairseq-train", str(dest), "--task", "translation", "--arch", "transformer",
        "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "32", "--decoder-embed-dim", "32",
        "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64",
        "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
        "--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "1000", "--max-update", "1",
        "--cpu", "--no-save", "--disable-validation", "-s", src, "-t", tgt,
        # no background loader: stopped after one update, stock fairseq-train (fairseq-fixed
        # 0.12.3.1, torch 2.13) with its default loader thread once aborted at exit in CI
        # ("terminate called without an active exception", rc -6) after training fine
        "--num-workers", "0", "--data-buffer-size", "0",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "num_updates 1" in result.stdout + result.stderr


def head(path, n, skip=0):
    """Lines skip..skip+n of a shared .gz file."""
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        lines = [line.rstrip("\n") for line in f]
    assert len(lines) >= skip + n
    return lines[skip : skip + n]


def write(path, lines):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def lines_of(path):
    return Path(path).read_text(encoding="utf-8").split("\n")[:-1]


def make_tgz(path, files):
    """A .tgz holding ``files`` (inner path -> text)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def dataset_len(prefix):
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    return len(MMapIndexedDataset(str(prefix)))


def no_leftovers(parent):
    """No temporary build directories were left behind."""
    return [p.name for p in Path(parent).iterdir() if ".partial" in p.name or ".old-" in p.name] == []


def small_raw_dir(root, n=300):
    """RAW/{train,valid,test}.{de,en}: the first n (train) or 50 (valid, test) Multi30k lines, plain text."""
    m30k = shared_data_dir() / "multi30k"
    for split, prefix, count in (("train", "train", n), ("valid", "val", 50), ("test", "test_2016_flickr", 50)):
        for lang in ("de", "en"):
            write(root / f"{split}.{lang}", head(m30k / f"{prefix}.{lang}.gz", count))
    return root


# ----------------------------------------------------------------------------
# the two corpora in shared data, through their recipes
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multi30k(tmp_path_factory):
    """Multi30k subset prepared by the recipe, raw dir found through AUTOASSIST_SHARED_DATA."""
    dest = tmp_path_factory.mktemp("m30k") / "multi30k_de_en"
    return dest, ok(run("multi30k", "--dest", dest, *SMALL))


@pytest.fixture(scope="module")
def wmt_news(tmp_path_factory):
    dest = tmp_path_factory.mktemp("news") / "wmt_news_de_en"
    return dest, ok(run("wmt_news", "--dest", dest, *SMALL, "--workers", "2"))


def test_multi30k_output(multi30k):
    dest, result = multi30k
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            assert (dest / f"{split}.de-en.{lang}.bin").is_file()
            assert (dest / f"{split}.de-en.{lang}.idx").is_file()
    assert (dest / "dict.de.txt").read_text() == (dest / "dict.en.txt").read_text()  # joined
    assert (dest / "spm.model").is_file() and (dest / "spm.vocab").is_file()
    assert not (dest / "work").exists()

    manifest = json.loads((dest / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["train"]["before"] == 2000 and 1900 < counts["train"]["after"] <= 2000
    assert counts["valid"] == {"before": 200, "after": 200} and counts["test"] == {"before": 200, "after": 200}
    assert manifest["vocab_size"] == 1000 and manifest["spm_model"] == str(dest / "spm.model")
    assert dataset_len(dest / "train.de-en.en") == counts["train"]["after"]
    assert dataset_len(dest / "test.de-en.de") == 200

    shared = shared_data_dir() / "multi30k"
    source = manifest["inputs"]["test"]["en"]
    assert source["path"] == str(shared / "test_2016_flickr.en.gz") and source["lines"] == 1000
    assert source["sha256"] == hashlib.sha256((shared / "test_2016_flickr.en.gz").read_bytes()).hexdigest()
    for split, prefix in (("valid", "val"), ("test", "test_2016_flickr")):
        for lang in ("de", "en"):
            expected = [normalize(line) for line in head(shared / f"{prefix}.{lang}.gz", 200)]
            assert lines_of(dest / f"{split}.raw.{lang}") == expected

    # the closing hint: our task and criterion, with the prepared languages
    assert f"fairseq-train {dest}" in result.stdout
    for part in ['--user-dir "$(fairseq-autoassist-dir)"', "--task autoassist_translation",
                 "--criterion autoassist_label_smoothed_cross_entropy", "--label-smoothing 0.1",
                 "--arch transformer", "-s de -t en"]:  # fmt: skip
        assert part in result.stdout
    assert manifest["train_command"] in result.stdout


def test_multi30k_trains_one_step(multi30k):
    train_one_step(multi30k[0], "de", "en")


def test_wmt_news_prepares_and_trains(wmt_news):
    dest, result = wmt_news
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["inputs"]["valid"]["de"]["path"].endswith("wmt-news-de-en/newstest2013.de.gz")
    assert manifest["inputs"]["test"]["en"]["lines"] == 3003
    assert manifest["counts"]["train"]["before"] == 2000
    assert len(lines_of(dest / "test.raw.en")) == 200
    train_one_step(dest, "de", "en")


def test_second_run_does_nothing_changed_input_rebuilds(tmp_path, caplog):
    raw, dest = small_raw_dir(tmp_path / "raw"), tmp_path / "out" / "data-bin"
    options = dict(valid="valid", test="test", vocab_size=300, limit_train=250)
    first = prepare(raw, "de", "en", dest, **options)
    stamps = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}

    caplog.set_level("INFO", logger="data_prep")
    assert prepare(raw, "de", "en", dest, **options) == first
    assert "up to date" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == stamps
    assert "test.de-en.en.bin" in first["files"] and "spm.model" in first["files"]

    (dest / "test.de-en.en.bin").unlink()  # an incomplete destination is rebuilt
    assert prepare(raw, "de", "en", dest, **options)["key"] == first["key"]
    assert (dest / "test.de-en.en.bin").is_file()

    with open(raw / "train.en", "a") as f:  # changed input (beyond the limit: still a new checksum)
        f.write("One more line.\n")
    with open(raw / "train.de", "a") as f:
        f.write("Noch eine Zeile.\n")
    second = prepare(raw, "de", "en", dest, **options)
    assert second["key"] != first["key"] and second["inputs"]["train"]["en"]["lines"] == 301

    third = prepare(raw, "de", "en", dest, **dict(options, limit_train=200))  # subset size is part of the key
    assert third["key"] != second["key"] and third["counts"]["train"]["before"] == 200
    assert json.loads((dest / "manifest.json").read_text())["key"] == third["key"]
    assert no_leftovers(dest.parent)

    # reproducible: the same inputs and options elsewhere give the same pieces and binaries
    # (spm.model itself records its temporary training paths)
    prepare(raw, "de", "en", tmp_path / "again", **dict(options, limit_train=200))
    for name in ("spm.vocab", "dict.en.txt", "train.de-en.de.bin", "train.de-en.en.idx", "test.raw.de"):
        assert (dest / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_other_language_pair_no_joined_bpe(tmp_path):
    """Any language codes work; --no-joined gives one sentencepiece model and dictionary per language."""
    news = shared_data_dir() / "wmt-news-de-en"
    raw, dest = tmp_path / "raw", tmp_path / "fr_it"
    raw.mkdir()
    splits = (("tr", "train", 1500), ("dev", "newstest2013", 100), ("tst", "newstest2014", 100))
    for lang, shared in (("fr", "de"), ("it", "en")):  # German and English text under other codes, gzipped
        for prefix, shared_prefix, n in splits:
            with gzip.open(raw / f"{prefix}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in head(news / f"{shared_prefix}.{shared}.gz", n)))
    args = ["--raw-dir", raw, "--src", "fr", "--tgt", "it", "--train", "tr", "--valid", "dev", "--test", "tst",
            "--dest", dest, "--vocab-size", "800", "--model-type", "bpe", "--no-joined"]  # fmt: skip
    result = ok(run("prepare", *args))
    assert "-s fr -t it" in result.stdout
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["spm_model"] is None
    assert manifest["spm_models"] == {"fr": str(dest / "spm.fr.model"), "it": str(dest / "spm.it.model")}
    assert (dest / "spm.fr.model").is_file() and (dest / "spm.it.model").is_file()
    assert (dest / "dict.fr.txt").read_text() != (dest / "dict.it.txt").read_text()
    assert (dest / "train.fr-it.fr.bin").is_file() and len(lines_of(dest / "valid.raw.it")) == 100
    train_one_step(dest, "fr", "it")


def test_valid_and_test_lines_are_never_dropped(tmp_path):
    raw = small_raw_dir(tmp_path / "raw")
    odd = ["", "word " * 400, "a", "Ein\tHund\r läuft\u00a0im\u2028Park.", "\ufeffZwei Katzen."]
    write(raw / "valid.de", lines_of(raw / "valid.de") + odd)
    write(raw / "valid.en", lines_of(raw / "valid.en") + ["x", "y", "A very long sentence " * 20, "A dog.", ""])
    manifest = prepare(raw, "de", "en", tmp_path / "out", vocab_size=300, max_len=20, len_ratio=1.5)
    assert manifest["counts"]["valid"] == {"before": 55, "after": 55}
    valid_de = lines_of(tmp_path / "out" / "valid.raw.de")
    assert len(valid_de) == 55 and valid_de[-2:] == ["Ein Hund läuft im Park.", "Zwei Katzen."]
    assert dataset_len(tmp_path / "out" / "valid.de-en.de") == 55
    assert dataset_len(tmp_path / "out" / "valid.de-en.en") == 55


# ----------------------------------------------------------------------------
# download layouts, built offline from the shared news files
# ----------------------------------------------------------------------------


def sgm(lines, root, lang, setid="newstest2014"):
    """WMT 'fake SGML': two documents, one <seg> per line."""
    half = len(lines) // 2
    out = [f'<{root} setid="{setid}" srclang="any"' + (f' trglang="{lang}">' if root == "refset" else ">")]
    for doc, chunk in (("1012-bbc", lines[:half]), ("1013-cnn", lines[half:])):
        out.append(f'<doc sysid="ref" docid="{doc}" genre="news" origlang="en">\n<p>')
        out += [f'<seg id="{i}">{line}</seg>' for i, line in enumerate(chunk, 1)]
        out.append("</p>\n</doc>")
    return "\n".join(out + [f"</{root}>"]) + "\n"


def test_wmt14_download_layout(tmp_path):
    news = shared_data_dir() / "wmt-news-de-en"
    train = {lang: head(news / f"train.{lang}.gz", 1200) for lang in ("de", "en")}
    valid = {lang: head(news / f"newstest2013.{lang}.gz", 200) for lang in ("de", "en")}
    test = {lang: head(news / f"newstest2014.{lang}.gz", 200) for lang in ("de", "en")}
    text = lambda lines: "".join(line + "\n" for line in lines)  # noqa: E731
    raw = tmp_path / "raw"
    raw.mkdir()
    parts = {"training/europarl-v7.de-en": (0, 500), "commoncrawl.de-en": (500, 900),
             "training/news-commentary-v9.de-en": (900, 1200)}  # fmt: skip
    archives = {"training/europarl-v7.de-en": "training-parallel-europarl-v7.tgz",
                "commoncrawl.de-en": "training-parallel-commoncrawl.tgz",
                "training/news-commentary-v9.de-en": "training-parallel-nc-v9.tgz"}  # fmt: skip
    for prefix, (a, b) in parts.items():
        files = {f"{prefix}.{lang}": text(train[lang][a:b]) for lang in ("de", "en")}
        files[prefix.replace("de-en", "fr-en") + ".fr"] = "Bonjour.\n"  # other pairs share the archives
        make_tgz(raw / archives[prefix], files)
    make_tgz(raw / "dev.tgz", {f"dev/newstest2013.{lang}": text(valid[lang]) for lang in ("de", "en")})
    make_tgz(raw / "test-full.tgz", {
        f"test-full/newstest2014-deen-{kind}.{lang}.sgm": sgm(test[lang], f"{kind}set", lang)
        for kind in ("src", "ref") for lang in ("de", "en")})  # fmt: skip

    dest = tmp_path / "wmt14_en_de"
    ok(run("wmt14_en_de", "--raw-dir", raw, "--dest", dest, "--no-download", "--vocab-size", "1000"))
    manifest = json.loads((dest / "manifest.json").read_text())
    assert (manifest["src"], manifest["tgt"]) == ("en", "de")
    assert manifest["counts"]["train"]["before"] == 1200
    assert manifest["counts"]["valid"]["after"] == 200
    assert (dest / "train.en-de.en.bin").is_file()
    for lang in ("en", "de"):
        assert lines_of(dest / f"test.raw.{lang}") == [normalize(line) for line in test[lang]]
        assert lines_of(dest / f"valid.raw.{lang}") == [normalize(line) for line in valid[lang]]
    assert (tmp_path / "wmt14_en_de-work" / "extracted" / "test-full" / "test-full").is_dir()


def test_iwslt14_download_layout(tmp_path):
    news = shared_data_dir() / "wmt-news-de-en"
    body = {lang: head(news / f"train.{lang}.gz", 1150) for lang in ("de", "en")}
    test = {lang: head(news / f"newstest2014.{lang}.gz", 200) for lang in ("de", "en")}
    files = {}
    for lang in ("de", "en"):
        lines = []
        for talk in range(5):  # five talks with the train.tags meta lines
            lines += [f"<url>http://www.ted.com/talks/talk{talk}.html</url>", f"<keywords>talks, k{talk}</keywords>",
                      f"<speaker>Speaker {talk}</speaker>", f"<talkid>{talk}</talkid>",
                      f"<title>Title {talk} {lang}</title>", f"<description>About talk {talk}.</description>"]
            lines += body[lang][talk * 230 : (talk + 1) * 230]
            lines += ['<reviewer href="http://www.ted.com/r">R</reviewer>', "<translator>T</translator>"]
        lines += ["", "Only this side." if lang == "de" else ""]  # pairs with an empty side are skipped
        files[f"de-en/train.tags.de-en.{lang}"] = "".join(line + "\n" for line in lines)
        names = ["TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012"]
        for i, name in enumerate(names):
            chunk = test[lang][i * 40 : i * 40 + 40]
            segs = "".join(f'<seg id="{j}"> {line} </seg>\n' for j, line in enumerate(chunk, 1))
            files[f"de-en/IWSLT14.{name}.de-en.{lang}.xml"] = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<mteval>\n<srcset setid="iwslt2014" srclang="german">\n'
                f'<doc docid="{i}" genre="lectures">\n<url>http://ted.com/{i}</url>\n<title>T{i}</title>\n'
                f"{segs}</doc>\n</srcset>\n</mteval>\n"
            )
    raw = tmp_path / "raw"
    raw.mkdir()
    make_tgz(raw / "de-en.tgz", files)

    dest = tmp_path / "iwslt14"
    args = ["--raw-dir", raw, "--dest", dest, "--no-download", "--vocab-size", "1000", "--lowercase"]
    ok(run("iwslt14", *args))
    manifest = json.loads((dest / "manifest.json").read_text())
    pairs = 1150 + 5 * 2  # sentences plus title and description of each talk
    assert manifest["counts"]["valid"]["after"] == pairs // 23
    assert manifest["counts"]["train"]["before"] == pairs - pairs // 23
    assert lines_of(dest / "test.raw.en") == [normalize(line).lower() for line in test["en"]]
    train_de = lines_of(tmp_path / "iwslt14-work" / "text-de-en-lc" / "train.de")
    assert "title 0 de" in train_de and not any(line.startswith("<") for line in train_de)

    again = ok(run("iwslt14", *args))  # second run: nothing to do
    assert "up to date" in again.stderr


def test_fetch_local_directory_and_file_url(tmp_path):
    """Already extracted files in --raw-dir are used as they are; download() works on any urllib URL."""
    raw = tmp_path / "raw"
    write(raw / "de-en" / "train.tags.de-en.de", ["Hallo."])
    root = fetch.archive_root("de-en.tgz", "http://invalid/de-en.tgz", ["de-en/train.tags.de-en.de"], raw,
                              tmp_path / "work", offline=True)  # fmt: skip
    assert root == raw
    with pytest.raises(PrepareError, match=r"de-en\.tgz is not in .*--no-download"):
        fetch.archive_root("de-en.tgz", "http://invalid/de-en.tgz", ["de-en/other"], raw, tmp_path / "work", True)
    got = fetch.download((raw / "de-en" / "train.tags.de-en.de").as_uri(), tmp_path / "dl")
    assert got.read_text() == "Hallo.\n" and not list((tmp_path / "dl").glob("*.part"))
    with pytest.raises(PrepareError, match="cannot download"):
        fetch.download((raw / "missing.tgz").as_uri(), tmp_path / "dl")


def test_multi30k_download_path(tmp_path, monkeypatch):
    """Without a local copy the recipe downloads the six release files (here from a file:// URL)."""
    from data_prep import multi30k

    monkeypatch.setattr(multi30k, "URL", (shared_data_dir() / "multi30k").as_uri() + "/")
    monkeypatch.setenv("AUTOASSIST_SHARED_DATA", str(tmp_path / "no-shared-data"))
    dest = tmp_path / "m30k"
    args = ["--dest", dest, "--vocab-size", "300", "--limit-train", "300", "--limit-valid", "20", "--limit-test", "20"]
    assert multi30k.main(list(map(str, args))) == 0
    downloads = tmp_path / "m30k-work" / "downloads"
    assert sorted(p.name for p in downloads.iterdir()) == sorted(
        f"{prefix}.{lang}.gz" for prefix in ("train", "val", "test_2016_flickr") for lang in ("de", "en")
    )
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["inputs"]["train"]["de"]["path"] == str(downloads / "train.de.gz")


# ----------------------------------------------------------------------------
# bad input: exit status 1, a clear message, nothing half-written
# ----------------------------------------------------------------------------


def fails(raw, dest, *extra, message):
    result = run("prepare", "--raw-dir", raw, "--src", "de", "--tgt", "en", "--dest", dest, *extra)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert not Path(dest).exists() and no_leftovers(Path(dest).parent)
    return result.stderr


def test_line_count_mismatch(tmp_path):
    raw = small_raw_dir(tmp_path / "raw")
    write(raw / "train.en", lines_of(raw / "train.en")[:-1])
    fails(raw, tmp_path / "out", message=f"train line counts differ: {raw / 'train.de'} has 300 lines, "
                                         f"{raw / 'train.en'} has 299 lines")  # fmt: skip


def test_line_count_mismatch_keeps_earlier_result(tmp_path):
    raw, dest = small_raw_dir(tmp_path / "raw"), tmp_path / "out"
    before = prepare(raw, "de", "en", dest, vocab_size=300)
    write(raw / "test.de", lines_of(raw / "test.de") + ["Eine Zeile zu viel."])
    result = run("prepare", "--raw-dir", raw, "--src", "de", "--tgt", "en", "--dest", dest, "--vocab-size", "300")
    assert result.returncode == 1 and "test line counts differ" in result.stderr and "has 51 lines" in result.stderr
    assert json.loads((dest / "manifest.json").read_text())["key"] == before["key"]  # old, complete, still stale
    assert no_leftovers(tmp_path)


def test_missing_split_or_file(tmp_path):
    raw = small_raw_dir(tmp_path / "raw")
    fails(raw, tmp_path / "out", "--valid", "dev", message=f"valid file {raw / 'dev.de'} (or dev.de.gz)")
    (raw / "test.en").unlink()
    err = fails(raw, tmp_path / "out", message=f"test file {raw / 'test.en'}")
    assert "test.de" not in err
    fails(tmp_path / "nowhere", tmp_path / "out", message="raw directory")


def test_undecodable_bytes(tmp_path):
    raw = small_raw_dir(tmp_path / "raw")
    data = (raw / "train.en").read_bytes().split(b"\n")
    data[2] = b"Caf\xe9 latte"  # Latin-1, not UTF-8
    (raw / "train.en").write_bytes(b"\n".join(data))
    fails(raw, tmp_path / "out", message=f"{raw / 'train.en'}: line 3 is not valid UTF-8")


def test_vocab_too_large(tmp_path):
    raw = small_raw_dir(tmp_path / "raw", n=40)
    fails(raw, tmp_path / "out", "--vocab-size", "5000",
          message="--vocab-size 5000 is larger than the training data supports")  # fmt: skip


def test_empty_after_cleaning(tmp_path):
    raw = small_raw_dir(tmp_path / "raw")
    write(raw / "train.en", [" "] * 300)
    fails(raw, tmp_path / "out", message="the training set is empty after cleaning: 300 pairs read")
    raw2 = small_raw_dir(tmp_path / "raw2")
    fails(raw2, tmp_path / "out", "--max-len", "1", "--vocab-size", "300",
          message="the training set is empty after cleaning")  # fmt: skip


def test_dest_that_is_not_ours_is_not_replaced(tmp_path):
    raw = small_raw_dir(tmp_path / "raw")
    write(tmp_path / "out" / "notes.txt", ["mine"])
    result = run("prepare", "--raw-dir", raw, "--src", "de", "--tgt", "en", "--dest", tmp_path / "out")
    assert result.returncode == 1 and "not an earlier prepare.py output" in result.stderr
    assert lines_of(tmp_path / "out" / "notes.txt") == ["mine"]


def test_normalize():
    assert normalize("\ufeff Ein\tHund\r\n") == "Ein Hund"
    assert normalize("a\u00a0b\u2028c\x00d") == "a b cd"
    assert normalize("Cafe\u0301") == "Caf\u00e9"  # NFC


def test_vocab_from_reuses_the_parent_vocabulary(tmp_path):
    """--vocab-from: data for fine-tuning, encoded with the parent data's sentencepiece model and
    dictionary (bytes unchanged), not new ones; a --joined mismatch is a clear error."""
    parent = tmp_path / "parent"
    ok(run("prepare", "--raw-dir", small_raw_dir(tmp_path / "raw"), "--src", "de", "--tgt", "en",
           "--dest", parent, "--vocab-size", "500"))
    news = shared_data_dir() / "wmt-news-de-en"
    for split, prefix in (("train", "train"), ("valid", "newstest2013"), ("test", "newstest2014")):
        for lang in ("de", "en"):
            write(tmp_path / "child-raw" / f"{split}.{lang}", head(news / f"{prefix}.{lang}.gz", 200))
    child = tmp_path / "child"
    ok(run("prepare", "--raw-dir", tmp_path / "child-raw", "--src", "de", "--tgt", "en", "--dest", child,
           "--vocab-size", "800", "--vocab-from", parent))
    for name in ("spm.model", "dict.de.txt", "dict.en.txt"):
        assert (child / name).read_bytes() == (parent / name).read_bytes(), name
    manifest = json.loads((child / "manifest.json").read_text())
    assert manifest["vocab_size"] == 500 and manifest["options"]["vocab_from"] == str(parent)
    train_one_step(child, "de", "en")

    other = run("prepare", "--raw-dir", tmp_path / "child-raw", "--src", "de", "--tgt", "en",
                "--dest", tmp_path / "other", "--no-joined", "--vocab-from", parent)
    assert other.returncode == 1 and "--vocab-from" in other.stderr and "--joined" in other.stderr
