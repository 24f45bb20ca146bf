"""Prepare WMT14 English-German (en-de by default) for fairseq.

Train: Europarl v7 + Common Crawl + News Commentary v9 (about 4.5M pairs);
valid: newstest2013; test: newstest2014 (full, 3,003 lines, from the .sgm files
sacrebleu's wmt14/full uses). The official archives are downloaded from
statmt.org unless --raw-dir holds them, or their extracted contents:

  training-parallel-europarl-v7.tgz  training/europarl-v7.de-en.{de,en}
  training-parallel-commoncrawl.tgz  commoncrawl.de-en.{de,en}
  training-parallel-nc-v9.tgz        training/news-commentary-v9.de-en.{de,en}
  dev.tgz                            dev/newstest2013.{de,en}
  test-full.tgz                      test-full/newstest2014-deen-{src,ref}.{de,en}.sgm

Example: python -m data_prep.wmt14_en_de --dest data-bin/wmt14_en_de --workers 8
"""

import sys

from data_prep import fetch
from data_prep.prepare import common_kwargs, prepare, read_lines, run_cli, write_lines

TRAIN = [  # (archive, url, corpus path in the archive without the .LANG suffix)
    ("training-parallel-europarl-v7.tgz", "http://statmt.org/wmt13/training-parallel-europarl-v7.tgz",
     "training/europarl-v7.de-en"),
    ("training-parallel-commoncrawl.tgz", "http://statmt.org/wmt13/training-parallel-commoncrawl.tgz",
     "commoncrawl.de-en"),
    ("training-parallel-nc-v9.tgz", "http://statmt.org/wmt14/training-parallel-nc-v9.tgz",
     "training/news-commentary-v9.de-en"),
]  # fmt: skip
VALID = ("dev.tgz", "http://data.statmt.org/wmt17/translation-task/dev.tgz", "dev/newstest2013")
TEST = ("test-full.tgz", "http://statmt.org/wmt14/test-full.tgz", "test-full/newstest2014-deen")


def assemble(args):
    """Find or fetch the archives and write train/valid/test.{src,tgt} into a work directory."""
    langs = (args.src, args.tgt)
    work = fetch.work_dir(args)
    corpora = []
    for archive, url, prefix in TRAIN + [VALID]:
        inner = [f"{prefix}.{lang}" for lang in langs]
        root = fetch.archive_root(archive, url, inner, args.raw_dir, work, args.no_download)
        corpora.append({lang: root / f"{prefix}.{lang}" for lang in langs})
    # the source side comes from the -src file, the reference from the -ref file, as in sacrebleu
    sgm = {args.src: f"{TEST[2]}-src.{args.src}.sgm", args.tgt: f"{TEST[2]}-ref.{args.tgt}.sgm"}
    root = fetch.archive_root(TEST[0], TEST[1], list(sgm.values()), args.raw_dir, work, args.no_download)
    test = {lang: root / sgm[lang] for lang in langs}
    sources = [p for c in corpora for p in c.values()] + list(test.values())

    def build(tmp):
        fetch.concat_parallel(corpora[:-1], {lang: tmp / f"train.{lang}" for lang in langs})
        for lang in langs:
            write_lines(tmp / f"valid.{lang}", read_lines(corpora[-1][lang]))
            write_lines(tmp / f"test.{lang}", fetch.seg_lines(test[lang]))

    return fetch.build_once(work / f"text-{args.src}-{args.tgt}", sources, build)


def main(argv=None):
    parser = fetch.recipe_parser(
        "wmt14_en_de", __doc__, src="en", tgt="de", languages=["en", "de"], vocab_size=32000,
        raw_help="directory with the official archives or their extracted contents (default: download)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    return run_cli(lambda: prepare(assemble(args), args.src, args.tgt, args.dest, **common_kwargs(args)))


if __name__ == "__main__":
    sys.exit(main())
