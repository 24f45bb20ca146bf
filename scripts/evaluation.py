"""Evaluating a checkpoint: valid NLL (fairseq-validate) and test BLEU (fairseq-generate +
sacreBLEU)."""

import json
import re
import time

from .common import USER_DIR, CurveError, read_lines, run_logged

VALID_RECORD = re.compile(r"\| valid \| (\{.*\})")


def evaluate_checkpoint(args, ctx, run_dir, ck, record=None):
    """valid NLL (fairseq-validate) and test BLEU (fairseq-generate + sacrebleu) of one
    checkpoint; cached in eval/<updates>.json, or taken from the run's *record* in the results
    when it holds this evaluation."""
    import sacrebleu
    from sacrebleu.metrics import BLEU

    from .results import matching_eval

    if record is not None:
        res = matching_eval(record, ck["updates"], args.beam, args.max_len_a, args.max_len_b)
        if res is not None:
            return res
    eval_dir = run_dir / "eval"
    eval_dir.mkdir(exist_ok=True)
    cache = eval_dir / f"{ck['updates']}.json"
    if cache.is_file():
        res = json.loads(cache.read_text())
        if (res.get("beam") == args.beam and res.get("checkpoint") == ck["file"]
                and res.get("max_len_a", 0) == args.max_len_a
                and res.get("max_len_b", 200) == args.max_len_b):
            return res
    path = ctx["work"] / ck["file"]
    if not path.is_file():
        raise CurveError(f"{path} is not there to evaluate (a run reused from its record is "
                         f"evaluated from the record with its own beam and length limits only)")
    common = [str(ctx["data"]), "--user-dir", str(USER_DIR), "--task", "autoassist_translation",
              "-s", ctx["src"], "-t", ctx["tgt"], "--path", str(path)]
    if args.cpu:
        common.append("--cpu")

    t0 = time.perf_counter()
    vlog = eval_dir / f"{ck['updates']}.validate.log"
    run_logged(["fairseq-validate", *common, "--valid-subset", "valid",
                "--max-tokens", str(args.valid_max_tokens), "--log-format", "json"],
               vlog, ctx["env"])
    m = VALID_RECORD.search(vlog.read_text(encoding="utf-8"))
    if not m or "valid_nll_loss" not in json.loads(m.group(1)):
        raise CurveError(f"no valid_nll_loss in {vlog}")
    valid_nll = float(json.loads(m.group(1))["valid_nll_loss"])
    t1 = time.perf_counter()

    glog = eval_dir / f"{ck['updates']}.generate.txt"
    run_logged(["fairseq-generate", *common, "--gen-subset", "test", "--beam", str(args.beam),
                "--max-len-a", str(args.max_len_a), "--max-len-b", str(args.max_len_b),
                "--batch-size", str(args.gen_batch_size), "--remove-bpe", "sentencepiece"],
               glog, ctx["env"])
    hyps = {}
    for line in read_lines(glog):
        if line.startswith("D-"):
            sid, _score, *text = line[2:].split("\t", 2)
            hyps[int(sid)] = text[0] if text else ""
    refs = ctx["refs"]
    if len(hyps) != len(refs) or set(hyps) != set(range(len(refs))):
        raise CurveError(f"fairseq-generate gave {len(hyps)} hypotheses for {len(refs)} test "
                         f"sentences ({ctx['refs_path']}); see {glog}")
    ordered = [hyps[i] for i in range(len(refs))]
    bleu = sacrebleu.corpus_bleu(ordered, [refs])
    metric = BLEU()
    metric.corpus_score(ordered, [refs])
    t2 = time.perf_counter()
    res = {"checkpoint": ck["file"], "updates": ck["updates"], "beam": args.beam,
           "max_len_a": args.max_len_a, "max_len_b": args.max_len_b,
           "valid_nll": valid_nll, "bleu": bleu.score, "bleu_text": str(bleu),
           "signature": str(metric.get_signature()),
           "validate_seconds": t1 - t0, "generate_seconds": t2 - t1, "eval_seconds": t2 - t0}
    cache.write_text(json.dumps(res, indent=1) + "\n")
    return res
