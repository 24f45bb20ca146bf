"""How long ``fairseq-autoassist-report`` takes at scale, apart from the Boss's forward passes.

Builds a synthetic corpus of ``--pairs`` pairs as fairseq binaries (random token ids, lengths
drawn like WMT14 en-de's: mean ~28 tokens per side), an Assistant with random weights and random
Boss losses, then times what the report does besides the forward passes: reading the corpus and
building the Assistant (its IDF), and :func:`fairseq_autoassist_cli.report.cli.write_report`
(scores, keep probabilities, noise scores, tables, features, lists, pairs.csv, plots). The forward
passes scale with the model and the device: the report logs their time on a real checkpoint.
Prints and writes (``--out``) a JSON record with the machine.

    python -m scripts.experiment scale --pairs 4500000 --work /tmp/scale --out docs/report-scale.json
"""

import argparse
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .common import machine_info


def write_corpus(work, pairs, vocab, seed=1):
    """``work/train.src-tgt.{src,tgt}`` binaries and dictionaries of *pairs* random pairs."""
    from fairseq.data import indexed_dataset

    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    for lang in ("src", "tgt"):
        with open(work / f"dict.{lang}.txt", "w") as f:
            f.writelines(f"w{i} {vocab - i}\n" for i in range(vocab - 4))
        sizes = np.clip(rng.lognormal(3.2, 0.55, pairs).astype(np.int64), 2, 250)
        tokens = rng.zipf(1.2, sizes.sum()) % (vocab - 4) + 4
        tokens[np.cumsum(sizes) - 1] = 2  # end of sentence
        prefix = str(work / f"train.src-tgt.{lang}")
        tokens.astype(np.uint16).tofile(prefix + ".bin")
        with indexed_dataset.MMapIndexedDataset.Index.writer(prefix + ".idx", np.uint16) as w:
            w.write(sizes.tolist())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=4_500_000)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--work", required=True, type=Path, help="scratch directory for the corpus")
    ap.add_argument("--out", type=Path, help="write the JSON record here too")
    args = ap.parse_args(argv)
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
                        level=logging.INFO)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)

    import torch
    from fairseq.data import Dictionary, LanguagePairDataset, data_utils

    import fairseq_autoassist  # noqa: F401
    from fairseq_autoassist.assistant import Assistant
    from fairseq_autoassist.task import AutoAssistTranslationConfig
    from fairseq_autoassist.tokens import PairTables
    from fairseq_autoassist_cli.report import noise_signals
    from fairseq_autoassist_cli.report.cli import get_parser, write_report
    from fairseq_autoassist_cli.report.signals import source_features

    seconds = {}
    t = time.perf_counter()
    write_corpus(args.work, args.pairs, args.vocab)
    seconds["write_synthetic_corpus"] = time.perf_counter() - t

    t = time.perf_counter()
    dicts = [Dictionary.load(str(args.work / f"dict.{lang}.txt")) for lang in ("src", "tgt")]
    sides = [data_utils.load_indexed_dataset(str(args.work / f"train.src-tgt.{lang}"), d)
             for lang, d in zip(("src", "tgt"), dicts)]
    dataset = LanguagePairDataset(sides[0], sides[0].sizes, dicts[0], sides[1], sides[1].sizes,
                                  dicts[1])
    tables = PairTables(dataset)
    assistant = Assistant(tables, len(dicts[0]), len(dicts[1]), frozen=True)
    seconds["read_corpus_and_build_assistant"] = time.perf_counter() - t
    rng = np.random.default_rng(2)
    for k in range(2):
        assistant.w[k] = rng.normal(0, 1, len(assistant.w[k]))
    assistant.epoch, assistant.loss_mean = 5, 2.0
    task_cfg = AutoAssistTranslationConfig(source_lang="src", target_lang="tgt", max_epoch=0)
    run = SimpleNamespace(
        cfg=SimpleNamespace(task=task_cfg, dataset=SimpleNamespace(train_subset="train"),
                            common=SimpleNamespace(seed=1)),
        task=SimpleNamespace(src_dict=dicts[0], tgt_dict=dicts[1]),
        model=torch.nn.Linear(1, 1), assistant=assistant, dataset=dataset, tables=tables,
        is_train=True, epoch=5, num_updates=0, history=None)
    own = rng.lognormal(0.5, 0.4, len(dataset))
    other = own + rng.lognormal(0.0, 0.5, len(dataset))
    similar = other + rng.normal(0.0, 0.3, len(dataset))
    report_args = get_parser().parse_args([str(args.work), "--path", "synthetic", "--out",
                                           str(args.work / "report"), "--post-process", "none",
                                           "--no-language-signal"])
    t = time.perf_counter()
    sources = source_features(run)
    noise_signals.similar_sources(tables.src, sources[1])
    seconds["similar_sources"] = time.perf_counter() - t
    t = time.perf_counter()
    write_report(report_args, run, [], (own, other, similar), None, 0.0, sources=sources)
    seconds["report_without_boss"] = time.perf_counter() - t
    record = {"pairs": args.pairs, "vocab": args.vocab,
              "tokens": int(tables.src.sizes.sum() + tables.tgt.sizes.sum()),
              "seconds": {k: round(v, 2) for k, v in seconds.items()},
              "pairs_csv_bytes": (args.work / "report" / "pairs.csv").stat().st_size,
              "machine": machine_info(None), "command": "python -m scripts.experiment scale "
              f"--pairs {args.pairs} --vocab {args.vocab} --work WORK"}
    text = json.dumps(record, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
