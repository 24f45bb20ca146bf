"""Prepare the small WMT news de-en corpus of the shared data for fairseq.

Splits: train (27,516 pairs of WMT news test sets), newstest2013 (3,000) as
valid, newstest2014 (3,003, the WMT14 test set) as test. --raw-dir holds
{train,newstest2013,newstest2014}.{de,en}[.gz]; the default is the shared-data
copy (wmt-news-de-en/). There is no single public download of this corpus.

Example: python -m data_prep.wmt_news --dest data-bin/wmt_news_de_en
"""

import sys

from data_prep import fetch
from data_prep.prepare import PrepareError, common_kwargs, prepare, run_cli

SPLITS = {"train": "train", "valid": "newstest2013", "test": "newstest2014"}


def raw_files(args):
    raw_dir = args.raw_dir or fetch.default_raw_dir("wmt-news-de-en")
    if raw_dir is None:
        raise PrepareError(
            f"no local copy of wmt-news-de-en in {fetch.shared_data_dir()}: "
            "pass --raw-dir or set AUTOASSIST_SHARED_DATA"
        )
    return raw_dir


def main(argv=None):
    parser = fetch.recipe_parser(
        "wmt_news", __doc__, src="de", tgt="en", languages=["de", "en"], vocab_size=8000, downloads=False,
        raw_help="directory with {train,newstest2013,newstest2014}.{de,en}[.gz] "
                 "(default: the shared-data copy wmt-news-de-en/)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    return run_cli(
        lambda: prepare(raw_files(args), args.src, args.tgt, args.dest, **SPLITS, **common_kwargs(args))
    )


if __name__ == "__main__":
    sys.exit(main())
