"""The noise benchmark of docs/noise.md: for each setting, a noisy corpus, a transformer-128
trained on it with AutoAssist's defaults, the data report on its last checkpoint, and every
signal of the report scored against the recorded noise (``experiment noise-eval``).

    python -m scripts.experiment noise-bench SETTING...     (from the repository root)

SETTING: crawl (the human-labelled crawl pairs mixed into Multi30k cs-en), mixed (every
synthetic kind in equal parts, 20% in all, on the 10k Multi30k de-en subset) or one synthetic
kind at 20% on that subset: misaligned near-miss misordered wrong-language untranslated
untranslated-reverse short templated. Writes ``--out/<setting>-report.json``,
``<setting>-eval.jsonl`` and ``<setting>-eval.txt``; the runs and reports stay in
``runs/noise-<setting>``.
"""

import argparse
import contextlib
import io
import shutil
from pathlib import Path

from . import common, noise_eval, training
from .common import REPO, log, run_logged

KINDS = ("misaligned", "near-miss", "misordered", "wrong-language", "untranslated",
         "untranslated-reverse", "short", "templated")


def corpus(setting, shared):
    """(data-bin, source, target, labels file) of *setting*, prepared when missing."""
    import data_prep.corrupt
    import data_prep.crawl_mixture
    import data_prep.multi30k

    if setting == "crawl":
        data = REPO / "data-bin" / "m30k_cs_en_crawl"
        data_prep.crawl_mixture.main(["--dest", str(data), "--vocab-size", "8000"])
        return data, "cs", "en", data / "labels.json"
    base, data = REPO / "data-bin" / "m30k_10k", REPO / "data-bin" / f"m30k_10k_{setting}"
    data_prep.multi30k.main(["--dest", str(base), "--limit-train", "10000", "--vocab-size", "6000"])
    if not data.is_dir():
        other = (["--other-language", str(Path(shared, "multi30k", "train.fr.gz")),
                  str(Path(shared, "multi30k", "train.cs.gz"))]
                 if setting in ("mixed", "wrong-language") else [])
        kind = ["--mixed", "0.2"] if setting == "mixed" else [f"--{setting}", "0.2"]
        data_prep.corrupt.main(["--src-dir", str(base), "--dest", str(data), *kind, *other,
                                "--seed", "1"])
    return data, "de", "en", data / "corrupted.json"


def bench(setting, args):
    data, src, tgt, labels = corpus(setting, args.shared)
    run = REPO / "runs" / f"noise-{setting}"
    epochs = args.crawl_epochs if setting == "crawl" else args.epochs
    env = common.child_env(args.threads)
    if not (run / "checkpoint_last.pt").is_file():
        run.mkdir(parents=True, exist_ok=True)
        cmd = training.fairseq_train(data, "transformer-128", 1, run,
                                     ["--max-epoch", str(epochs), "--no-epoch-checkpoints"],
                                     src=src, tgt=tgt, cpu=args.cpu,
                                     extra=["--assistant-loss-history"])
        log(f"{setting}: training {epochs} epochs -> {run}")
        run_logged(cmd, run / "train.log", env, echo=training.echo_train)
    report = ["fairseq-autoassist-report", str(data), "--path", str(run / "checkpoint_last.pt"),
              "--out", str(run / "report"), "--top", "30", *(["--cpu"] if args.cpu else [])]
    log(f"{setting}: the report -> {run / 'report'}")
    run_logged(report, run / "report.log", env)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run / "report" / "report.json", out / f"{setting}-report.json")
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        noise_eval.main(["--pairs", str(run / "report" / "pairs.csv"), "--labels", str(labels),
                         "--tag", setting, "--out", str(out / f"{setting}-eval.jsonl")])
    (out / f"{setting}-eval.txt").write_text(text.getvalue(), encoding="utf-8")
    print(f"{setting}: {out / f'{setting}-eval.txt'}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("settings", nargs="+", choices=("crawl", "mixed", *KINDS), metavar="SETTING",
                   help="crawl, mixed or a kind: " + ", ".join(KINDS))
    p.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    p.add_argument("--crawl-epochs", type=int, default=10,
                   help="training epochs of the crawl setting (default 10)")
    p.add_argument("--shared", default=str(REPO.parent / "shared" / "data"),
                   help="the shared data (the other languages of wrong-language; default "
                        "../shared/data)")
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every command")
    p.add_argument("--cpu", action="store_true", help="pass --cpu to fairseq-train and the report")
    p.add_argument("--out", default="docs/noise", help="where the records go (default docs/noise)")
    args = p.parse_args(argv)
    for setting in args.settings:
        bench(setting, args)
    return 0
