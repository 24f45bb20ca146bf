"""Helpers shared by the corpus recipes: finding local copies, downloading
(standard library only), extracting archives, reading WMT/IWSLT ``<seg>``
files, assembling plain text, and the recipes' common command line.

Every recipe accepts ``--raw-dir DIR`` holding what the download would give
(the archives, or their extracted contents); nothing is fetched then. Downloads,
extractions and assembled text go to a work directory (``--work-dir``, default
``DEST-work``) and are reused by later runs while their sources are unchanged.
"""

import argparse
import json
import logging
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from data_prep.prepare import PrepareError, add_common_args, read_lines, write_lines

logger = logging.getLogger("data_prep")

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir():
    """$AUTOASSIST_SHARED_DATA, else ../shared/data next to the repository (may not exist)."""
    return Path(os.environ.get("AUTOASSIST_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


def default_raw_dir(name):
    """The shared-data copy of corpus ``name`` if it exists, else None."""
    path = shared_data_dir() / name
    return path if path.is_dir() else None


# ----------------------------------------------------------------------------
# download and extraction
# ----------------------------------------------------------------------------


def download(url, directory):
    """Download ``url`` into ``directory`` (kept; an existing file is reused) and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / url.rsplit("/", 1)[-1]
    if target.is_file():
        return target
    part = target.with_name(target.name + ".part")
    logger.info("downloading %s", url)
    done = total = 0
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            next_log = time.time() + 10
            while chunk := response.read(1 << 20):
                f.write(chunk)
                done += len(chunk)
                if time.time() >= next_log:
                    next_log += 10
                    logger.info("  %s: %.0f MB%s", target.name, done / 1e6, f" of {total / 1e6:.0f}" if total else "")
    except OSError as e:  # urllib.error.URLError, timeouts, disk errors
        part.unlink(missing_ok=True)
        raise PrepareError(
            f"cannot download {url}: {e}; fetch it yourself and pass its directory as --raw-dir"
        ) from None
    if total and done != total:
        part.unlink(missing_ok=True)
        raise PrepareError(f"download of {url} is incomplete ({done} of {total} bytes); try again")
    part.rename(target)
    return target


def fetch_file(name, url, raw_dir, download_dir, offline=False):
    """``raw_dir/name`` or ``download_dir/name`` if present, else download ``url`` (unless ``offline``)."""
    for directory in (raw_dir, download_dir):
        if directory and (Path(directory) / name).is_file():
            return Path(directory) / name
    if offline:
        where = " or ".join(str(d) for d in (raw_dir, download_dir) if d)
        raise PrepareError(f"{name} is not in {where} and downloading is off (--no-download); it is at {url}")
    return download(url, download_dir)


def build_once(target, sources, build):
    """Return ``target``, first running ``build(tmp)`` into a temporary directory
    that then replaces it, unless ``target`` was built from the same ``sources``
    (paths, sizes and modification times)."""
    target = Path(target)
    stamp = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in map(Path, sources)]
    try:
        if json.loads((target / ".sources.json").read_text()) == stamp:
            return target
    except (OSError, ValueError):
        pass
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        (tmp / ".sources.json").write_text(json.dumps(stamp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def extract(archive, directory):
    """Extract a .tgz/.tar.gz/.tar archive to ``directory/NAME`` (NAME = archive
    name without extension) and return that; a previous extraction is reused."""
    archive = Path(archive)
    name = re.sub(r"\.(tgz|tar\.gz|tar)$", "", archive.name)

    def build(tmp):
        logger.info("extracting %s", archive)
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, **safe)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise PrepareError(f"cannot extract {archive}: {e}") from None

    return build_once(Path(directory) / name, [archive], build)


def archive_root(archive, url, inner, raw_dir, work_dir, offline=False):
    """A directory under which all relative paths ``inner`` exist: ``raw_dir``
    when they were extracted there already, else the extraction of
    ``raw_dir/archive`` or of its download."""
    if raw_dir and all((Path(raw_dir) / p).is_file() for p in inner):
        return Path(raw_dir)
    path = fetch_file(archive, url, raw_dir, Path(work_dir) / "downloads", offline)
    root = extract(path, Path(work_dir) / "extracted")
    missing = [p for p in inner if not (root / p).is_file()]
    if missing:
        raise PrepareError(f"{path} does not contain {', '.join(missing)}")
    return root


# ----------------------------------------------------------------------------
# text
# ----------------------------------------------------------------------------

_SEG = re.compile(r"<seg[^>]*>(.*?)</seg>")


def seg_lines(path):
    """The text of each ``<seg>`` of a WMT .sgm or IWSLT .xml file, one per line.

    Entities are left as they are, as sacrebleu does for these files, so the
    references match the ones sacrebleu scores against.
    """
    for line in read_lines(path):
        match = _SEG.search(line)
        if match:
            yield match.group(1).strip()


def concat_parallel(corpora, out):
    """Append each corpus (a dict lang -> path) to ``out`` (lang -> path), checking that
    both sides of every corpus have the same number of lines."""
    for path in out.values():
        Path(path).write_text("")
    for corpus in corpora:
        counts = {lang: write_lines(out[lang], read_lines(path), mode="a") for lang, path in corpus.items()}
        if len(set(counts.values())) > 1:
            raise PrepareError(
                "line counts differ: " + ", ".join(f"{corpus[lang]} has {n} lines" for lang, n in counts.items())
            )
        logger.info("added %d pairs from %s", next(iter(counts.values())), ", ".join(map(str, corpus.values())))


# ----------------------------------------------------------------------------
# command line shared by the recipes
# ----------------------------------------------------------------------------


def recipe_parser(module, description, src, tgt, languages, vocab_size, raw_help, downloads=True):
    """Parser with --raw-dir, --dest, --src/--tgt, (--work-dir, --no-download) and prepare.py's options."""
    parser = argparse.ArgumentParser(
        prog=f"python -m data_prep.{module}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--raw-dir", metavar="DIR", help=raw_help)
    parser.add_argument("--dest", required=True, metavar="DIR", help="output directory (fairseq data-bin)")
    parser.add_argument("--src", "-s", choices=languages, default=src, help="source language (default: %(default)s)")
    parser.add_argument("--tgt", "-t", choices=languages, default=tgt, help="target language (default: %(default)s)")
    if downloads:
        parser.add_argument("--work-dir", metavar="DIR",
                            help="downloads, extracted archives and assembled text (default: DEST-work)")
        parser.add_argument("--no-download", action="store_true",
                            help="never download; fail if something is missing from --raw-dir")  # fmt: skip
    add_common_args(parser, vocab_size=vocab_size)
    return parser


def work_dir(args):
    """--work-dir, or DEST-work next to DEST."""
    return Path(args.work_dir) if args.work_dir else Path(str(Path(args.dest).absolute()) + "-work")
