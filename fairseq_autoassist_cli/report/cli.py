"""``fairseq-autoassist-report DATA-BIN --path CKPT --out DIR``: what the Assistant of an
``autoassist_translation`` run learned about its corpus.

Reads the checkpoint's Boss and Assistant and the binarized split (by default the one the run
trained on), computes every pair's Boss loss in batched forward passes (on a GPU when there is
one), and writes to DIR: ``report.md`` (keep rate and Assistant AUC per epoch; the Assistant's
score and the Boss's loss by target length, and whether the score is more than length; its
strongest features as words; the most trivial, hardest learnable and likeliest noisy pairs as
text), ``report.json`` (the same numbers), ``pairs.csv`` (every pair), ``score_loss.png``,
``length.png``, ``epochs.png``. With ``--write-filtered RAW-DIR`` it also writes the split's text
without the pairs flagged by ``--drop-ids FILE`` and/or ``--drop-noise-above Z``, with the data
directory's raw valid and test text: input for ``python -m data_prep.prepare``.
"""

import argparse
import logging
import os
import sys
import time

import numpy as np

from fairseq_autoassist import noise

from .load import ReportError

logger = logging.getLogger("fairseq_autoassist.report")


def get_parser():
    p = argparse.ArgumentParser(prog="fairseq-autoassist-report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", metavar="DATA-BIN", help="the binarized data directory the run trained on")
    p.add_argument("--path", required=True, metavar="CKPT",
                   help="a checkpoint of an autoassist_translation run (e.g. checkpoint_last.pt)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the report is written")
    p.add_argument("--subset", default=None,
                   help="the split to report (default: the one the run trained on)")
    p.add_argument("--top", type=int, default=50, metavar="N", help="pairs in each list")
    p.add_argument("--plans", default=None, metavar="DIR",
                   help="the run's plans.jsonl directory (default: the checkpoint's directory)")
    p.add_argument("--max-tokens", type=int, default=4000,
                   help="tokens per batch of the Boss's forward passes")
    p.add_argument("--other-sources", type=int, default=4, metavar="N",
                   help="score each pair's target also after the sources of N other pairs of its "
                        "batch (N + 1 forward passes; fewer: faster, a noisier noise score)")
    p.add_argument("--no-language-signal", action="store_true",
                   help="leave the language-ID signal out of the noise score (it needs py3langid)")
    p.add_argument("--languages", nargs=2, default=None, metavar=("SRC", "TGT"),
                   help="ISO 639-1 codes the language-ID signal expects (default: the run's "
                        "source and target language)")
    p.add_argument("--no-valid", action="store_true",
                   help="skip the Boss's passes over the clean valid split (they measure how much "
                        "it uses its source)")
    p.add_argument("--cpu", action="store_true", help="use the CPU even when a GPU is present")
    p.add_argument("--post-process", default="sentencepiece",
                   help="how token strings become text (fairseq's --post-process: "
                        "sentencepiece, subword_nmt, none, ...)")
    p.add_argument("--write-filtered", default=None, metavar="RAW-DIR",
                   help="write the split's text without the flagged pairs, and the data "
                        "directory's raw valid/test text, to RAW-DIR")
    p.add_argument("--drop-ids", default=None, metavar="FILE",
                   help="with --write-filtered: pair ids to drop, one per line (e.g. from pairs.csv)")
    p.add_argument("--drop-noise-above", type=float, default=None, metavar="Z",
                   help="with --write-filtered: drop the pairs whose noise score is above Z")
    return p


def main(argv=None):
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
                        level=logging.INFO, stream=sys.stderr)
    args = get_parser().parse_args(argv)
    try:
        report(args)
    except (ReportError, noise.NoiseError) as e:
        raise SystemExit(f"fairseq-autoassist-report: error: {e}")


def report(args):
    """Run the report of *args* (parsed by :func:`get_parser`); returns report.json's content."""
    from . import boss, load, noise_signals, signals

    if args.write_filtered and args.drop_ids is None and args.drop_noise_above is None:
        raise ReportError("--write-filtered needs --drop-ids FILE and/or --drop-noise-above Z")
    for flag, value in (("--top", args.top), ("--other-sources", args.other_sources),
                        ("--max-tokens", args.max_tokens)):
        if value < 1:
            raise ReportError(f"{flag} must be >= 1, got {value}")
    drop_ids = _read_ids(args.drop_ids) if args.drop_ids else None
    run = load.load(args.data, args.path, args.subset)
    if drop_ids is not None:  # before the forward passes, which take minutes on a large corpus
        bad = drop_ids[(drop_ids < 0) | (drop_ids >= len(run.tables))]
        if len(bad):
            raise ReportError(f"--drop-ids {args.drop_ids}: ids out of range "
                              f"[0, {len(run.tables)}): {bad[:5].tolist()}")
    if not args.no_language_signal:
        noise.language_identifier()  # its package missing: say so before the forward passes
    records = load.plan_records(args.path, args.plans)
    device = "cpu" if args.cpu else None
    sources = signals.source_features(run)
    similar = noise_signals.similar_sources(run.tables.src, sources[1])
    own, other, similar_loss, boss_seconds = boss.pair_losses(
        run, args.max_tokens, device, args.other_sources, similar)
    valid_losses = None
    valid = None if args.no_valid else load.valid_dataset(run)
    if valid is not None:
        v_own, v_other, _, seconds = boss.pair_losses(run, args.max_tokens, device,
                                                      args.other_sources, dataset=valid)
        valid_losses = (v_own, v_other)
        boss_seconds += seconds
    return write_report(args, run, records, (own, other, similar_loss), valid_losses,
                        boss_seconds, drop_ids, sources)


def write_report(args, run, records, losses, valid_losses, boss_seconds, drop_ids=None,
                 sources=None):
    """Everything after the Boss's forward passes: the numbers, then the files of :func:`main`.
    *losses*: own, other-source and similar-source losses of the reported split;
    *valid_losses*: own and other-source losses of the valid split, or None; *sources*: the
    sources' bags and TF-IDF (:func:`signals.source_features`), built when not given."""
    from . import analysis, load, signals, write

    start = time.perf_counter()
    own, other, similar_loss = losses
    ids = np.arange(len(own))
    t = run.cfg.task
    columns, noise_summary = signals.compute(
        run, losses, valid_losses, args.languages or (t.source_lang, t.target_lang),
        args.post_process, not args.no_language_signal, sources)
    p = {"id": ids, "src_len": run.tables.src.sizes, "tgt_len": run.tables.tgt.sizes,
         "hard_prob": run.assistant.hard_prob(run.tables, ids), "loss": own, "other_loss": other,
         "similar_loss": similar_loss, "keep_prob": load.keep_probability(run), **columns}
    os.makedirs(args.out, exist_ok=True)
    lists = analysis.ranked(p, args.top)
    dictionaries = (run.task.src_dict, run.task.tgt_dict)
    ds = run.dataset
    shown = np.unique(np.concatenate(list(lists.values())))
    texts = {int(i): (dictionaries[0].string(ds.src[int(i)], args.post_process),
                      dictionaries[1].string(ds.tgt[int(i)], args.post_process)) for i in shown}
    by_length = analysis.by_length(p)
    epochs = analysis.epochs(records, run.assistant)
    result = {
        "data": str(args.data), "subset": args.subset or run.cfg.dataset.train_subset,
        "checkpoint": str(args.path), "epoch": run.epoch, "num_updates": run.num_updates,
        "rule": run.cfg.task.assistant_rule, "pairs": len(own),
        "device": str(next(run.model.parameters()).device),
        "epochs": epochs, "selection": analysis.selection_summary(p), "by_length": by_length,
        "features": analysis.top_features(run.assistant, run.tables, dictionaries),
        "features_min_sentences": analysis.min_sentences(len(own)),
        "lists": {k: [_row(p, int(i), texts) for i in ids] for k, ids in lists.items()},
        "noise": noise_summary,
    }
    write.pairs_csv(os.path.join(args.out, "pairs.csv"), p)
    result["plots"] = write.plots(args.out, p, by_length, epochs)
    if args.write_filtered:
        drop = np.zeros(len(own), dtype=bool)
        if drop_ids is not None:  # checked by report()
            drop[drop_ids] = True
        if args.drop_noise_above is not None:
            drop |= p["noise_score"] > args.drop_noise_above
        kept = write.filtered_text(args.write_filtered, args.data,
                                   (run.cfg.task.source_lang, run.cfg.task.target_lang), ds,
                                   dictionaries, drop, args.post_process)
        result["filtered"] = {"dir": str(args.write_filtered), "kept": kept,
                              "dropped": int(drop.sum())}
        logger.info("wrote %d pairs (%d dropped) to %s", kept, int(drop.sum()), args.write_filtered)
    result["seconds"] = {"boss": boss_seconds, "analysis": time.perf_counter() - start}
    write.report_json(os.path.join(args.out, "report.json"), result)
    with open(os.path.join(args.out, "report.md"), "w", encoding="utf-8") as f:
        f.write(write.markdown(result, texts))
    logger.info("report of %d pairs written to %s (Boss %.1f s, the rest %.1f s)", len(own),
                args.out, boss_seconds, result["seconds"]["analysis"])
    return result


def _row(p, i, texts):
    return {"id": i, "assistant_score": float(p["hard_prob"][i]), "boss_loss": float(p["loss"][i]),
            "other_source_loss": float(p["other_loss"][i]),
            "noise_score": float(p["noise_score"][i]), "source": texts[i][0], "target": texts[i][1]}


def _read_ids(path):
    try:
        with open(path, encoding="utf-8") as f:
            return np.array([int(line) for line in f if line.strip()], dtype=np.int64)
    except (OSError, ValueError) as e:
        raise ReportError(f"--drop-ids {path}: expected one pair id per line ({e})") from e


if __name__ == "__main__":
    main()
