"""Helpers shared by the tests."""

from pathlib import Path

from data_prep import fetch

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir():
    """The shared data directory of :func:`data_prep.fetch.shared_data_dir`, which the tests need
    (with multi30k/ and wmt-news-de-en/): a clear FileNotFoundError when it is missing."""
    path = fetch.shared_data_dir()
    missing = [name for name in ("multi30k", "wmt-news-de-en") if not (path / name).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"shared data not found: {path} lacks {', '.join(missing)}/; "
            "set AUTOASSIST_SHARED_DATA to the directory holding multi30k/ and wmt-news-de-en/"
        )
    return path


def shared_file(relative):
    """A file of the shared data directory (e.g. ``tatoeba-de-en/en-de.tsv.gz``): a clear
    FileNotFoundError when it is missing, never a skipped test."""
    path = shared_data_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(f"shared data not found: {path}")
    return path
