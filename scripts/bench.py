"""What AutoAssist costs: the Assistant's scoring and update, epoch planning, start-up, and the
Boss's throughput in real fairseq-train runs, each against its target (docs/performance.md).

    python -m scripts.experiment bench --out docs/performance.json          # full (WMT14 size, ~20 min)
    python -m scripts.experiment bench --quick --out /tmp/bench.json        # CI: small sizes, < 2 minutes

Scoring, update, start-up and planning run in this process on a synthetic corpus written as
fairseq mmap binaries (token ids from a Zipf distribution over a 32k vocabulary, sentence lengths
log-normal around WMT14 en-de's mean of 27 tokens, target
lengths following the source's), on one core. The Boss overhead alternates
fairseq-train runs a, b, c, b, c, a, c, a, b, ... (rotated each round; a: stock ``--task translation``; b: ours with
``--assistant-off``; c: ours with the Assistant learning and planning but keeping every pair,
``--assistant-base-prob 1``) on real data and reports the paired ratios of target tokens per second,
end to end (trained target tokens over the process's wall time, start-up included);
``--boss-ranks N`` runs each on N processes (distributed, every rank's losses exchanged).

The benchmark never fails on a timing. It exits with status 1 when an invariant breaks: Boss
runs of one round that trained different target tokens (they must train the same batches), a plan
that is not a duplicate-free subset of its candidates, a batch over ``--max-tokens``, a chunk whose
batches differ from its budget, an epoch whose length differs from its start plan's.
"""

import argparse
import dataclasses
import functools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # the in-process parts measure one core

import numpy as np  # noqa: E402

from . import training  # noqa: E402
from .common import REPO, machine_info  # noqa: E402
from .training import TRAIN_RECORD  # noqa: E402

TARGETS = {
    "score_pairs_per_s": (">=", 2e6),
    "learn_ms_per_4k_tokens": ("<=", 1.0),
    "plan_epoch_seconds": ("<=", 3.0),
    "plan_epoch_peak_mb": ("<=", 300.0),
    "boss_c_over_a_median": (">=", 0.99),
}


class InvariantError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------ synthetic corpus
def write_side(prefix, lengths, vocab, rng):
    """fairseq mmap binaries of sentences with Zipf-distributed ids (EOS last), via fairseq's
    own index writer."""
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    dtype = np.uint16 if vocab < 65500 else np.int32
    ranks = np.arange(1, vocab - 4 + 1, dtype=np.float64)
    cdf = np.cumsum(1.0 / ranks)
    cdf /= cdf[-1]
    with open(f"{prefix}.bin", "wb") as f:
        step = 1 << 20
        for lo in range(0, len(lengths), step):
            part = lengths[lo:lo + step]
            ids = (np.searchsorted(cdf, rng.random(int(part.sum()))) + 4).astype(dtype)
            ids[np.cumsum(part) - 1] = 2  # EOS
            f.write(ids.tobytes())
    with MMapIndexedDataset.Index.writer(f"{prefix}.idx", dtype) as w:
        w.write(lengths)


def synthetic_dataset(folder, n_pairs, vocab, seed=0):
    """A LanguagePairDataset of *n_pairs* synthetic pairs over a *vocab*-symbol dictionary."""
    from fairseq.data import Dictionary, LanguagePairDataset
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    rng = np.random.default_rng(seed)
    d = Dictionary()
    for i in range(vocab - len(d)):
        d.add_symbol(f"w{i}")
    src_len = np.clip(np.rint(rng.lognormal(np.log(24.0), 0.55, n_pairs)), 1, 250)
    # target lengths follow the source's, as in real parallel data
    tgt_len = np.clip(np.rint(src_len * rng.lognormal(0.0, 0.15, n_pairs)), 1, 250)
    sides = []
    for side, lengths in (("src", src_len), ("tgt", tgt_len)):
        prefix = Path(folder) / f"{side}{n_pairs}"
        if not Path(f"{prefix}.idx").exists():
            write_side(prefix, lengths.astype(np.int64), len(d), rng)
        sides.append(MMapIndexedDataset(str(prefix)))
    src, tgt = sides
    return LanguagePairDataset(src, src.sizes, d, tgt, tgt.sizes, d, shuffle=True), d


def make_task(d):
    from fairseq_autoassist.task import AutoAssistTranslationConfig, AutoAssistTranslationTask

    return AutoAssistTranslationTask(AutoAssistTranslationConfig(max_epoch=0, no_save=True), d, d)


def trained_assistant(tables, vocab, seed=0):
    """An Assistant with random weights (the cost of scoring does not depend on their values)."""
    from fairseq_autoassist.assistant import Assistant

    a = Assistant(tables, vocab, vocab, features="tfidf")
    rng = np.random.default_rng(seed)
    a.w = [rng.normal(0, 1, vocab), rng.normal(0, 1, vocab)]
    a.scalars[1:] = (0.3, -0.2)  # length weights
    a.confidence = 0.5
    return a


def timed(fn, *args, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_mb(fn, *args):
    """Seconds and peak Python/numpy heap allocation (tracemalloc) of ``fn(*args)``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        out = fn(*args)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak / 2**20, out


# ------------------------------------------------------------------------ measurements
def bench_startup(dataset, vocab):
    from fairseq_autoassist.assistant import Assistant
    from fairseq_autoassist.tokens import PairTables

    def build():
        tables = PairTables(dataset)
        return tables, Assistant(tables, vocab, vocab, features="tfidf")

    seconds, mb, (tables, _) = peak_mb(build)
    return {"pairs": len(dataset), "seconds": seconds, "peak_mb": mb}, tables


def bench_scoring(tables, assistant, sizes, rng):
    rows = []
    for n in sizes:
        ids = np.sort(rng.choice(len(tables), n, replace=False)) if n < len(tables) else np.arange(n)
        ids = rng.permutation(ids)  # candidates come shuffled and length-sorted, not by id
        seconds, q = timed(assistant.hard_prob, tables, ids, repeat=2 if n <= 10**6 else 1)
        if q.shape != (n,) or not np.all((q >= 0) & (q <= 1)):
            raise InvariantError("hard_prob returned values outside [0, 1]")
        rows.append({"pairs": n, "seconds": seconds, "pairs_per_s": n / seconds})
        log(f"scoring {n:>9,} pairs: {seconds:.3f} s, {n / seconds / 1e6:.2f} M pairs/s")
    return rows


def bench_learn(tables, assistant, token_sizes, rng, steps=30):
    order = np.argsort(tables.tgt.sizes, kind="stable")
    rows = []
    for tokens in token_sizes:
        times = []
        for s in range(steps):
            start = rng.integers(0, max(1, len(order) - 4096))
            sizes = tables.tgt.sizes[order[start:start + 4096]]
            n = max(1, int(np.searchsorted(np.cumsum(sizes), tokens)))
            ids = order[start:start + n]
            ntok = tables.tgt.sizes[ids].astype(np.float64)
            losses = ntok * rng.gamma(4.0, 1.0, n)
            assistant.begin_epoch(1000 + len(rows) * steps + s, len(tables))  # fresh "seen" set
            t0 = time.perf_counter()
            assistant.learn(tables, ids, losses, ntok)
            times.append(time.perf_counter() - t0)
        ms = 1000 * statistics.median(times)
        rows.append({"target_tokens": tokens, "pairs": int(n), "ms_per_step": ms,
                     "ms_per_4k_tokens": ms * 4096 / tokens})
        log(f"Assistant update, {tokens:>6,} target tokens ({n} pairs): {ms:.3f} ms per step")
    return rows


def check_plan(plan, dataset, max_tokens, budgets_at_start):
    """The invariants of a planned epoch (all chunks planned)."""
    batches = [b for k in range(len(plan.parts)) for b in plan.chunk_batches(k)]
    ids = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise InvariantError("a pair is in two batches of one epoch")
    if not np.isin(ids, plan.candidates).all():
        raise InvariantError("a batch holds a pair that is not a candidate")
    for k in range(len(plan.parts)):
        got = len(plan.chunk_batches(k))
        if got != budgets_at_start[k]:
            raise InvariantError(f"chunk {k} has {got} batches, its budget is {budgets_at_start[k]}")
    for b in batches:
        if len(b) == 0 or len(b) * dataset.num_tokens_vec(b).max() > max_tokens:
            raise InvariantError(f"a batch of {len(b)} pairs is empty or over --max-tokens")
    if len(batches) != plan.total:
        raise InvariantError(f"the epoch has {len(batches)} batches, its plan {plan.total}")
    kept = plan.candidates[plan.keep[plan.candidates]]
    if len(kept) != len(ids) or not np.array_equal(np.sort(kept), np.sort(ids)):
        raise InvariantError("the keep mask and the batches disagree")
    return len(batches)


def autoassist_of(task, dataset, batcher, assistant, chunks, seed=1, base_prob=0.5):
    """The plugin's AutoAssist object on *dataset* (the paper's rule, *chunks* chunks per epoch)
    with *assistant* (:func:`trained_assistant`) in place of its untrained one."""
    from fairseq_autoassist.autoassist import AutoAssist

    cfg = dataclasses.replace(task.cfg, assistant_rule="paper", assistant_base_prob=base_prob,
                              assistant_plan_chunks=chunks)
    autoassist = AutoAssist(cfg, dataset, task.src_dict, task.tgt_dict)
    autoassist.assistant = assistant
    autoassist.use(dataset, batcher, seed)
    return autoassist


def plan_epoch(autoassist, epoch):
    """The plan of *epoch*, made by the plugin's own ``AutoAssist.plan_epoch`` (what training
    makes at an epoch start), and the rule's decisions for planning its chunks again."""
    return autoassist.plan_epoch(epoch), functools.partial(autoassist.rule.decide, epoch)


def bench_planning(task, dataset, assistant, chunks, max_tokens, rng):
    from fairseq_autoassist.plan import Batcher

    rows = []
    for n_chunks in chunks:
        batcher = Batcher(task, dataset, max_tokens, None, (1024, 1024), False, 8, seed=1)
        autoassist = autoassist_of(task, dataset, batcher, assistant, n_chunks)
        seconds, mb, (plan, decide) = peak_mb(plan_epoch, autoassist, 2)
        budgets = list(plan.budgets)
        row = {"pairs": len(dataset), "chunks": n_chunks, "plan_seconds": seconds,
               "plan_peak_mb": mb, "batches": plan.total,
               "keep_rate": plan.stats()["keep_rate"]}
        if n_chunks > 1:
            # the Assistant learns between chunks: perturb it so that decisions change
            assistant.w[0][:] += rng.normal(0, 0.5, len(assistant.w[0]))
            chunk_s, chunk_mb, _ = peak_mb(plan.plan_chunk, 1, decide)
            row.update(chunk_seconds=chunk_s, chunk_peak_mb=chunk_mb)
            for k in range(2, n_chunks):
                plan.plan_chunk(k, decide)
        check_plan(plan, dataset, max_tokens, budgets)
        rows.append(row)
        log(f"planning {len(dataset):,} pairs in {n_chunks} chunk(s): {seconds:.2f} s, peak "
            f"{mb:.0f} MB, {plan.total} batches" + (
                f"; one chunk re-planned in {row['chunk_seconds']:.2f} s, peak "
                f"{row['chunk_peak_mb']:.0f} MB" if n_chunks > 1 else ""))
    return rows


# ------------------------------------------------------------------------ Boss overhead
def boss_command(kind, data, save, preset, updates, extra, ranks=1, versus=None, cpu=False):
    """fairseq-train for run *kind* (training.fairseq_train); with *ranks* > 1 on that many
    processes through fairseq-autoassist-torchrun (every rank's losses then reach every rank's
    Assistant). Kind d is kind c with the plugin of another checkout, *versus*."""
    # the runs start in the repository root
    user_dir = Path(versus) / "fairseq_autoassist" if kind == "d" else "fairseq_autoassist"
    # c, d: the paper's rule with a floor of 1 keeps every pair (the default rule, infobatch,
    # would drop pairs predicted learned)
    rule = {"a": [], "b": ["--assistant-off"]}.get(
        kind, ["--assistant-rule", "paper", "--assistant-base-prob", "1"])
    launcher = (["fairseq-train"] if ranks == 1 else
                ["fairseq-autoassist-torchrun", "--standalone", "--nproc_per_node", str(ranks), "--"])
    return training.fairseq_train(
        data, preset, 1, save, ["--max-update", str(updates)], stock=kind == "a",
        user_dir=user_dir, launcher=launcher, save=False, cpu=cpu,
        extra=[*rule, "--required-batch-size-multiple", "1", "--log-interval", "10", *extra])


def trained_tokens(log_text):
    """Target tokens trained on: per epoch, fairseq's mean target tokens per update (wpb) times
    the epoch's updates."""
    recs = [json.loads(m.group(1)) for m in TRAIN_RECORD.finditer(log_text)]
    if not recs:
        raise RuntimeError("no train record in the fairseq-train log")
    done = [int(r["train_num_updates"]) for r in recs]
    return sum(float(r["train_wpb"]) * (b - a) for r, a, b in zip(recs, [0] + done, done))


def bench_boss(data, preset, updates, rounds, threads, extra, ranks=1, versus=None, kinds=None,
               deadline=None, cpu=False):
    """*rounds* paired rounds; none starts after time.monotonic() passed *deadline*."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    kinds = kinds or ("abcd" if versus else "abc")
    if kinds[0] != "a" or not set(kinds) <= set("abcd") or ("d" in kinds) != bool(versus):
        raise SystemExit(f"--boss-kinds {kinds}: a first, then some of b, c and d (d needs "
                         "--boss-versus)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            if r and deadline is not None and time.monotonic() > deadline:
                log(f"Boss rounds: the time given is up after {r} of {rounds} rounds")
                break
            row = {}
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]  # no kind always runs first
            row["order"] = order
            for kind in order:
                cmd = boss_command(kind, data, Path(tmp) / kind, preset, updates, extra, ranks,
                                   versus, cpu)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
                seconds = time.perf_counter() - t0
                if proc.returncode != 0:
                    raise RuntimeError(f"{shlex.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
                # end to end: start-up (the Assistant's TF-IDF statistics), planning and
                # every step are in the process's wall time
                row[f"{kind}_tokens"] = trained_tokens(proc.stdout + proc.stderr)
                row[kind] = row[f"{kind}_tokens"] / seconds
                row[f"{kind}_seconds"] = seconds
            tokens = {k: round(row[f"{k}_tokens"]) for k in kinds}
            if len(set(tokens.values())) > 1:  # every kind trains the same batches
                raise InvariantError(f"Boss round {r + 1}: the kinds trained different target "
                                     f"tokens {tokens}: they must train the same batches")
            rows.append(row)
            log(f"Boss round {r + 1}/{rounds} (order {order}): target tokens/s "
                + ", ".join(f"{k} {row[k]:.0f}" for k in kinds) + "; "
                + ", ".join(f"{k}/a {row[k] / row['a']:.4f}" for k in kinds[1:]))
    out = {"rounds": rows, "preset": preset, "updates": updates, "threads": threads, "ranks": ranks,
           "versus": str(versus) if versus else None,
           "commands": {k: shlex.join(boss_command(k, data, "SAVE", preset, updates, extra, ranks,
                                                   versus, cpu)) for k in kinds}}
    for kind in kinds[1:]:
        ratios = [row[kind] / row["a"] for row in rows]
        out[f"{kind}_over_a"] = {"median": statistics.median(ratios), "min": min(ratios),
                                 "max": max(ratios), "all": ratios}
    return out


# ------------------------------------------------------------------------ report
def verdicts(res):
    values = {}
    if res.get("scoring"):
        values["score_pairs_per_s"] = res["scoring"][-1]["pairs_per_s"]
    if res.get("learn"):
        values["learn_ms_per_4k_tokens"] = max(r["ms_per_4k_tokens"] for r in res["learn"])
    one = [r for r in res.get("planning", []) if r["chunks"] == 1]
    if one:
        values["plan_epoch_seconds"] = one[-1]["plan_seconds"]
        values["plan_epoch_peak_mb"] = one[-1]["plan_peak_mb"]
    if res.get("boss"):
        values["boss_c_over_a_median"] = res["boss"]["c_over_a"]["median"]
    out = {}
    for key, v in values.items():
        op, target = TARGETS[key]
        met = v >= target if op == ">=" else v <= target
        out[key] = {"value": v, "target": f"{op} {target:g}", "met": bool(met)}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small sizes for CI (< 2 minutes): 200k pairs, one Boss round of a tiny model")
    p.add_argument("--pairs", type=int, default=None,
                   help="corpus size for planning and start-up (default 4,500,000; --quick 200,000)")
    p.add_argument("--vocab", type=int, default=32000, help="vocabulary size (default 32000)")
    p.add_argument("--max-tokens", type=int, default=4096, help="batch size in tokens (default 4096)")
    p.add_argument("--chunks", type=int, default=10,
                   help="--assistant-plan-chunks for the chunked planning measurement (default 10)")
    p.add_argument("--work", default=None, metavar="DIR",
                   help="where the synthetic corpus is written and kept (default: a temp dir)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="fairseq data for the Boss overhead (default: data-bin/multi30k_de_en; "
                        "--quick: a 2,000-pair Multi30k subset prepared from the shared data)")
    p.add_argument("--boss-preset", default=None,
                   help="preset (scripts/presets.py) of the Boss runs (default transformer-cpu; --quick tiny)")
    p.add_argument("--boss-updates", type=int, default=None, help="updates per Boss run (default 150; --quick 20)")
    p.add_argument("--boss-rounds", type=int, default=None, help="a,b,c rounds (default 5; --quick 1)")
    p.add_argument("--boss-threads", type=int, default=2,
                   help="OMP threads of each Boss process (default 2)")
    p.add_argument("--boss-ranks", type=int, default=1,
                   help="processes per Boss run (default 1); > 1 runs them through "
                        "fairseq-autoassist-torchrun (gloo on CPU)")
    p.add_argument("--boss-extra", default="", help="more fairseq-train flags for the Boss runs")
    p.add_argument("--skip-boss", action="store_true", help="leave out the fairseq-train runs")
    p.add_argument("--cpu", action="store_true",
                   help="pass --cpu to the Boss runs (default: fairseq uses a GPU when there is "
                        "one; several ranks on CPU need it)")
    p.add_argument("--boss-versus", metavar="CHECKOUT",
                   help="also run kind d: kind c with the plugin of another checkout of this "
                        "repository (e.g. an earlier design), paired in the same rounds")
    p.add_argument("--boss-kinds", default=None, metavar="KINDS",
                   help="which runs each round has: a, then some of b, c, d (default abc, or abcd "
                        "with --boss-versus); e.g. ac for the c/a ratio alone")
    p.add_argument("--boss-seconds", type=float, default=None, metavar="S",
                   help="start no Boss round but the first later than S seconds after the "
                        "benchmark started (the rounds done are reported; default: no limit)")
    p.add_argument("--out", default=None, metavar="FILE.json", help="write the results as JSON")
    args = p.parse_args(argv)
    deadline = None if args.boss_seconds is None else time.monotonic() + args.boss_seconds
    quick = args.quick
    n_pairs = args.pairs or (200_000 if quick else 4_500_000)
    score_sizes = [s for s in (10_000, 100_000, 1_000_000, 4_500_000) if s <= n_pairs]
    rng = np.random.default_rng(0)
    res = {"machine": machine_info(1), "quick": quick, "vocab": args.vocab}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.work or tmp)
            work.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            dataset, d = synthetic_dataset(work, n_pairs, args.vocab)
            log(f"synthetic corpus: {n_pairs:,} pairs, vocab {len(d)}, mean lengths "
                f"{dataset.src_sizes.mean():.1f}/{dataset.tgt_sizes.mean():.1f} "
                f"({time.perf_counter() - t0:.1f} s)")
            res["startup"], tables = bench_startup(dataset, len(d))
            log(f"start-up (token tables + TF-IDF statistics) of {n_pairs:,} pairs: "
                f"{res['startup']['seconds']:.2f} s, peak {res['startup']['peak_mb']:.0f} MB")
            assistant = trained_assistant(tables, len(d))
            res["scoring"] = bench_scoring(tables, assistant, score_sizes, rng)
            res["learn"] = bench_learn(tables, assistant, (4096, 16384, 32768), rng,
                                       steps=10 if quick else 30)
            res["planning"] = bench_planning(make_task(d), dataset, assistant,
                                             (1, args.chunks), args.max_tokens, rng)
            del dataset, tables, assistant
        if not args.skip_boss:
            data = Path(args.data) if args.data else None
            with tempfile.TemporaryDirectory() as tmp:
                if data is None and quick:
                    from data_prep.fetch import default_raw_dir
                    from data_prep.prepare import prepare
                    raw = default_raw_dir("multi30k")
                    if raw is None:
                        raise SystemExit("bench.py --quick needs the shared Multi30k data "
                                         "($AUTOASSIST_SHARED_DATA) or --data DIR")
                    data = Path(tmp) / "m30k"
                    prepare(raw_dir=raw, src="de", tgt="en", dest=data,
                            train="train", valid="val", test="test_2016_flickr",
                            vocab_size=1000, limit_train=2000, limit_valid=50, limit_test=50)
                data = data or REPO / "data-bin" / "multi30k_de_en"
                res["boss"] = bench_boss(
                    data, args.boss_preset or ("tiny" if quick else "transformer-cpu"),
                    args.boss_updates or (20 if quick else 150),
                    args.boss_rounds or (1 if quick else 5), args.boss_threads,
                    shlex.split(args.boss_extra), args.boss_ranks, args.boss_versus,
                    args.boss_kinds, deadline, args.cpu)
    except InvariantError as e:
        print(f"bench.py: invariant broken: {e}", file=sys.stderr)
        return 1
    res["targets"] = verdicts(res)
    print("\n| figure | measured | target | met |\n|---|---|---|---|")
    for key, v in res["targets"].items():
        print(f"| {key} | {v['value']:.4g} | {v['target']} | {'yes' if v['met'] else 'NO'} |")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
        log(f"wrote {args.out}")
    return 0
