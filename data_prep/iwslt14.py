"""Prepare IWSLT14 German-English (TED talks; de-en by default) for fairseq.

The standard split of fairseq's prepare-iwslt14.sh: every 23rd pair of
train.tags.de-en.* is valid, the rest train; test is dev2010, TEDX dev2012,
tst2010, tst2011 and tst2012 concatenated (about 160k/7k/6.8k pairs). Tag
lines of the training files (<url>, <talkid>, <keywords>, <speaker>, ...) are
dropped, <title>/<description> keep their text, pairs with an empty side are
skipped before the split. The archive de-en.tgz is downloaded unless --raw-dir
holds it or its extracted de-en/ directory:

  de-en/train.tags.de-en.{de,en}
  de-en/IWSLT14.TED.{dev2010,tst2010,tst2011,tst2012}.de-en.{de,en}.xml
  de-en/IWSLT14.TEDX.dev2012.de-en.{de,en}.xml

Text is kept cased unless --lowercase (the usual IWSLT14 benchmark setting).

Example: python -m data_prep.iwslt14 --dest data-bin/iwslt14_de_en --lowercase
"""

import re
import sys

from data_prep import fetch
from data_prep.prepare import PrepareError, common_kwargs, prepare, read_lines, run_cli, write_lines

URL = "https://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz"
TRAIN = "de-en/train.tags.de-en.{lang}"
TEST = [f"de-en/IWSLT14.{name}.de-en.{{lang}}.xml" for name in
        ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")]  # fmt: skip
VALID_EVERY = 23


def train_text(line):
    """Text of a train.tags line: None for tag lines, the content for <title>/<description>."""
    if not line.startswith("<"):
        return line
    match = re.fullmatch(r"<(title|description)>(.*)</\1>", line)
    return match.group(2).strip() if match else None


def assemble(args):
    """Find or fetch de-en.tgz and write train/valid/test.{de,en} into a work directory."""
    langs = (args.src, args.tgt)
    work = fetch.work_dir(args)
    inner = [p.format(lang=lang) for p in [TRAIN] + TEST for lang in langs]
    root = fetch.archive_root("de-en.tgz", URL, inner, args.raw_dir, work, args.no_download)
    case = str.lower if args.lowercase else (lambda text: text)

    def build(tmp):
        sides = {}
        for lang in langs:
            path = root / TRAIN.format(lang=lang)
            sides[lang] = [case(t) for t in map(train_text, read_lines(path)) if t is not None]
        if len(sides[args.src]) != len(sides[args.tgt]):
            raise PrepareError(
                "line counts differ after removing tag lines: "
                + ", ".join(f"{root / TRAIN.format(lang=lang)} has {len(sides[lang])}" for lang in langs)
            )
        pairs = [(s, t) for s, t in zip(sides[args.src], sides[args.tgt], strict=True) if s and t]
        for i, lang in enumerate(langs):
            write_lines(tmp / f"train.{lang}", (p[i] for n, p in enumerate(pairs, 1) if n % VALID_EVERY))
            write_lines(tmp / f"valid.{lang}", (p[i] for n, p in enumerate(pairs, 1) if not n % VALID_EVERY))
            test = (case(t) for p in TEST for t in fetch.seg_lines(root / p.format(lang=lang)))
            write_lines(tmp / f"test.{lang}", test)

    name = f"text-{args.src}-{args.tgt}" + ("-lc" if args.lowercase else "")
    return fetch.build_once(work / name, [root / p for p in inner], build)


def main(argv=None):
    parser = fetch.recipe_parser(
        "iwslt14", __doc__, src="de", tgt="en", languages=["de", "en"], vocab_size=10000,
        raw_help="directory with de-en.tgz or its extracted de-en/ directory (default: download)",
    )  # fmt: skip
    parser.add_argument("--lowercase", action="store_true", help="lowercase all text")
    args = parser.parse_args(argv)
    return run_cli(lambda: prepare(assemble(args), args.src, args.tgt, args.dest, **common_kwargs(args)))


if __name__ == "__main__":
    sys.exit(main())
