"""Prepare Multi30k task 1 (image captions; de-en by default) for fairseq.

Splits: train (29,000), val (1,014) as valid, test_2016_flickr (1,000) as test.
--raw-dir is a directory with the release's raw files (train.de.gz, val.en.gz,
test_2016_flickr.de.gz, ...; plain or gzipped); without it the shared-data copy
is used when present, else the files are downloaded from the public release
(github.com/multi30k/dataset, data/task1/raw/).

Example: python -m data_prep.multi30k --dest data-bin/multi30k_de_en
"""

import sys

from data_prep import fetch
from data_prep.prepare import common_kwargs, prepare, run_cli

URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}


def raw_files(args):
    """The directory holding the six raw files: --raw-dir, the shared copy, or a download."""
    raw_dir = args.raw_dir or fetch.default_raw_dir("multi30k")
    if raw_dir:
        return raw_dir
    downloads = fetch.work_dir(args) / "downloads"
    for prefix in SPLITS.values():
        for lang in (args.src, args.tgt):
            name = f"{prefix}.{lang}.gz"
            fetch.fetch_file(name, URL + name, None, downloads, args.no_download)
    return downloads


def main(argv=None):
    parser = fetch.recipe_parser(
        "multi30k", __doc__, src="de", tgt="en", languages=["de", "en", "fr", "cs"], vocab_size=8000,
        raw_help="directory with {train,val,test_2016_flickr}.LANG[.gz] (default: the shared-data copy "
                 "if present, else download)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    return run_cli(
        lambda: prepare(raw_files(args), args.src, args.tgt, args.dest, **SPLITS, **common_kwargs(args))
    )


if __name__ == "__main__":
    sys.exit(main())
