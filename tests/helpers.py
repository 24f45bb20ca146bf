"""Helpers shared by the tests."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir():
    """The shared data directory (with multi30k/ and wmt-news-de-en/):
    $AUTOASSIST_SHARED_DATA, else ../shared/data relative to the repository root.

    Raises FileNotFoundError with a clear message when it is missing.
    """
    path = Path(os.environ.get("AUTOASSIST_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")
    missing = [name for name in ("multi30k", "wmt-news-de-en") if not (path / name).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"shared data not found: {path} lacks {', '.join(missing)}/; "
            "set AUTOASSIST_SHARED_DATA to the directory holding multi30k/ and wmt-news-de-en/"
        )
    return path
