"""Training runs of the experiment scripts: fairseq-train commands, their logs and checkpoints,
and reusing a finished run."""

import json
import re
import shutil
import time

from .common import USER_DIR, CurveError, log, run_logged
from .presets import PRESETS

# flags the scripts set themselves; --extra must not set them
RESERVED = ("--save-dir", "--max-update", "--save-interval-updates", "--keep-interval-updates",
            "--seed", "--task", "--user-dir", "--criterion", "--assistant-off",
            "--assistant-scorer", "--assistant-keep-rates", "--log-format", "-s", "-t",
            "--source-lang", "--target-lang", "--max-epoch", "--assistant-rule")

SAVED = re.compile(r"Saved checkpoint \S+ \(epoch \d+ @ (\d+) updates.*?"
                   r"\(writing took ([0-9.eE+-]+) seconds\)")
TRAIN_RECORD = re.compile(r"\| train \| (\{.*\})")


def fairseq_train(data, arch, seed, save_dir, schedule=(), *, src=None, tgt=None, stock=False,
                  user_dir=USER_DIR, precision="fp32", cpu=False, extra=(),
                  launcher=("fairseq-train",), save=True):
    """The fairseq-train command of every run of the scripts: the plugin's task and criterion
    (*stock*: fairseq's translation task and criterion), label smoothing 0.1, the preset *arch*,
    *seed*, the *schedule* flags (how long it trains, when it saves), no validation, JSON logs,
    ``--save-dir`` *save_dir* (*save* False: ``--no-save``), the *precision* (fp32, fp16, bf16),
    ``--cpu`` only when asked (fairseq picks the device otherwise), then *extra* (rule flags, the
    user's). *launcher*: the command that starts it (fairseq-autoassist-torchrun for ranks)."""
    task = (["--task", "translation", "--criterion", "label_smoothed_cross_entropy"] if stock else
            ["--user-dir", str(user_dir), "--task", "autoassist_translation",
             "--criterion", "autoassist_label_smoothed_cross_entropy"])
    cmd = [*launcher, str(data), *task, "--label-smoothing", "0.1",
           *(["-s", src, "-t", tgt] if src else []), *PRESETS[arch]["args"],
           "--seed", str(seed), *schedule, "--disable-validation",
           "--no-save-optimizer-state" if save else "--no-save",
           "--save-dir", str(save_dir), "--log-format", "json"]
    if cpu:
        cmd.append("--cpu")
    if precision != "fp32":
        cmd.append(f"--{precision}")
    return cmd + list(extra)


def precision_of(args):
    return "fp16" if args.fp16 else "bf16" if args.bf16 else "fp32"


def train_command(args, data, src, tgt, seed, run, save_dir, keep_rates_file=None):
    """An update curve's run: --max-update, a checkpoint every --eval-every updates."""
    cmd = fairseq_train(data, args.arch, seed, save_dir,
                        ["--max-update", str(args.updates), "--save-interval-updates",
                         str(args.eval_every), "--keep-interval-updates", "-1"],
                        src=src, tgt=tgt, precision=precision_of(args), cpu=args.cpu,
                        extra=args.extra_args)
    if run == "baseline":
        cmd.append("--assistant-off")
    elif run == "random":
        cmd += ["--assistant-scorer", "random", "--assistant-keep-rates", str(keep_rates_file)]
    return cmd


def echo_train(line):
    if "| train |" in line:
        m = TRAIN_RECORD.search(line)
        if m:
            r = json.loads(m.group(1))
            keep = f", keep_rate {r['train_keep_rate']}" if "train_keep_rate" in r else ""
            return (f"  epoch {r.get('epoch')} done: {r.get('train_num_updates')} updates, "
                    f"loss {r.get('train_loss')}{keep}")
    if "| AutoAssist epoch " in line and " plan: " in line:  # the plan's line, for people
        return "  " + line.split(" | ")[-1].strip()
    return None


def parse_train_log(text):
    """Epochs (keep rates, end updates, fairseq's cumulative train_wall and the skip-noise and
    swiftlearn rules' extra forward tokens from
    fairseq's epoch train records: kept pairs count the chunks planned during the epoch too; a
    run without them, the baseline, keeps every pair)
    and the checkpoint write seconds per save."""
    plans, ends, extra, walls = {}, {}, {}, {}
    for m in TRAIN_RECORD.finditer(text):
        r = json.loads(m.group(1))
        ends[int(r["epoch"])] = int(float(r["train_num_updates"]))
        extra[int(r["epoch"])] = (int(float(r.get("train_noise_forward_tokens", 0))),
                                  int(float(r.get("train_swiftlearn_forward_tokens", 0))))
        walls[int(r["epoch"])] = float(r["train_wall"]) if "train_wall" in r else None
        if "train_kept_pairs" in r and "train_candidates" in r:
            plans[int(r["epoch"])] = (int(float(r["train_kept_pairs"])),
                                      int(float(r["train_candidates"])))
    epochs = []
    for e in sorted(set(plans) | set(ends)):
        kept, cand = plans.get(e, (None, None))
        epochs.append({"epoch": e, "kept_pairs": kept, "candidates": cand,
                       "keep_rate": kept / cand if cand else 1.0,
                       "end_updates": ends.get(e),
                       "noise_forward_tokens": extra.get(e, (0, 0))[0],
                       "swiftlearn_forward_tokens": extra.get(e, (0, 0))[1],
                       "train_wall": walls.get(e)})
    writes = [(int(u), float(s)) for u, s in SAVED.findall(text)]
    return epochs, writes


def load_checkpoint_meta(path):
    import torch
    import fairseq_autoassist  # noqa: F401  (allows argparse.Namespace for weights_only loads)

    state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    it = state["extra_state"]["train_iterator"]
    progress = it.get("training_progress")
    if progress is None:
        raise CurveError(f"{path} has no training progress in its iterator state: was it "
                         f"written by --task autoassist_translation of this plugin?")
    # fairseq stores an epoch-end iterator as (next epoch, 0 iterations)
    epoch = int(it["epoch"]) - 1 if int(it["iterations_in_epoch"]) == 0 else int(it["epoch"])
    return {"updates": int(state["optimizer_history"][-1]["num_updates"]), "epoch": epoch,
            "train_seconds": float(progress["train_seconds"]),
            "trained_target_tokens": int(progress["trained_target_tokens"])}


def collect_checkpoints(run_dir, eval_every, keep_all):
    """The run's checkpoints on the K-update grid (plus the last one), with wall seconds net of
    earlier checkpoint writes; files off the grid are deleted unless *keep_all*."""
    ck_dir = run_dir / "checkpoints"
    text = (run_dir / "train.log").read_text(encoding="utf-8")
    epochs, writes = parse_train_log(text)
    metas = {}
    for path in sorted(ck_dir.glob("checkpoint*.pt")):
        meta = load_checkpoint_meta(path)
        meta["file"] = path
        metas.setdefault(meta["updates"], []).append(meta)
    if not metas:
        raise CurveError(f"no checkpoint in {ck_dir}: see {run_dir / 'train.log'}")
    last = max(metas)
    chosen, drop = [], []
    for updates in sorted(metas):
        # prefer a named interval/epoch file over checkpoint_last.pt
        group = sorted(metas[updates], key=lambda m: m["file"].name == "checkpoint_last.pt")
        if updates % eval_every == 0 or updates == last:
            chosen.append(group[0])
            drop += [m["file"] for m in group[1:]]
        else:
            drop += [m["file"] for m in group]
    if not keep_all:
        for f in drop:
            f.unlink()
    keep = {e["epoch"]: e["keep_rate"] for e in epochs}
    out = []
    for m in chosen:
        written = sum(s for u, s in writes if u < m["updates"])
        out.append({
            "file": str(m["file"].relative_to(run_dir.parent.parent)),
            "updates": m["updates"], "epoch": m["epoch"],
            "keep_rate": keep.get(m["epoch"], 1.0),
            "train_seconds_raw": m["train_seconds"],
            "checkpoint_write_seconds_before": written,
            "wall_seconds": max(m["train_seconds"] - written, 0.0),
            "trained_target_tokens": m["trained_target_tokens"],
        })
    return epochs, out


def finished_run(run_dir, cmd, keep_rates, label):
    """The saved train.json of *run_dir* when it was trained with *cmd* and *keep_rates* (reuse
    it); otherwise None, with *run_dir* emptied for a new training run."""
    info_path = run_dir / "train.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("command") == cmd and info.get("keep_rates_used") == keep_rates:
            log(f"{label}: already trained ({info_path}), reused")
            return info
        log(f"{label}: command changed since the last run, training again")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True)
    return None


def train_or_reuse(cmd, run_dir, label, what, env, describe, keep_rates=None, recorded=None,
                   keep_file=None, eval_every=10 ** 12, keep_all=False, reused=None):
    """One training run of the experiment scripts: *cmd* trained into *run_dir* (its log
    ``train.log``, its record ``train.json``), or the finished run reused: *reused*, a run record
    of the compact results (scripts/results.py) trained with the same command and keep rates, or
    the run in *run_dir* when it was trained with the same command (*recorded*, by default *cmd*)
    and *keep_rates*. ``describe(process_seconds, epochs, checkpoints)`` gives the script's fields
    of train.json (``command`` and ``keep_rates_used`` are added); with *keep_file* the run's keep
    rate per epoch is written there (the random control's input). Returns train.json's content."""
    recorded = cmd if recorded is None else recorded
    if reused is not None:
        log(f"{label}: already trained (its record in the results), reused")
        if keep_file is not None:
            epochs = reused["train"].get("epoch_records") or reused["train"]["epochs"]
            rates = reused.get("keep_rates") or {str(e["epoch"]): e["keep_rate"]
                                                 for e in epochs if e["candidates"]}
            keep_file.parent.mkdir(parents=True, exist_ok=True)
            keep_file.write_text(json.dumps(rates, indent=1) + "\n")
        return reused["train"]
    info = finished_run(run_dir, recorded, keep_rates, label)
    if info is not None:
        return info
    log(f"{label}: training {what} -> {run_dir}")
    t0 = time.perf_counter()
    run_logged(cmd, run_dir / "train.log", env, echo=echo_train)
    process_seconds = time.perf_counter() - t0
    epochs, checkpoints = collect_checkpoints(run_dir, eval_every, keep_all)
    info = {**describe(process_seconds, epochs, checkpoints), "command": recorded,
            "keep_rates_used": keep_rates}
    if keep_file is not None:
        rates = {str(e["epoch"]): e["keep_rate"] for e in epochs if e["candidates"]}
        if not rates:
            raise CurveError(f"no epoch train record with train_kept_pairs in "
                             f"{run_dir / 'train.log'}")
        keep_file.parent.mkdir(parents=True, exist_ok=True)
        keep_file.write_text(json.dumps(rates, indent=1) + "\n")
    (run_dir / "train.json").write_text(json.dumps(info, indent=1) + "\n")
    final = checkpoints[-1]
    log(f"{label}: trained in {process_seconds:.1f} s (process), {final['updates']} updates, "
        f"{final['wall_seconds']:.1f} s training wall, {final['trained_target_tokens']} target "
        f"tokens, {len(checkpoints)} checkpoint(s); keep rates per epoch: "
        + ", ".join(f"{e['keep_rate']:.3f}" for e in epochs))
    return info


def train_run(args, ctx, seed, run):
    """A run of an update curve (baseline, autoassist, random), trained or reused."""
    run_dir = ctx["work"] / f"seed{seed}" / run
    keep_file = ctx["work"] / f"seed{seed}" / "autoassist" / "keep_rates.json"
    cmd = train_command(args, ctx["data"], ctx["src"], ctx["tgt"], seed, run,
                        run_dir / "checkpoints", keep_file)
    keep_rates = json.loads(keep_file.read_text()) if run == "random" else None

    def describe(process_seconds, epochs, checkpoints):
        extra = {"keep_rates_file": str(keep_file)} if run == "autoassist" else {}
        return {"run": run, "seed": seed, "process_seconds": process_seconds, "epochs": epochs,
                "checkpoints": checkpoints, **extra}
    return train_or_reuse(cmd, run_dir, f"seed {seed} {run}", f"({args.updates} updates)",
                          ctx["env"], describe, keep_rates,
                          keep_file=keep_file if run == "autoassist" else None,
                          eval_every=args.eval_every, keep_all=args.keep_all_checkpoints,
                          reused=reusable(ctx, seed, run, cmd, keep_rates))


def reusable(ctx, seed, name, command, keep_rates):
    """The run record of the results (--out's, --reuse's) trained with *command* and
    *keep_rates*, kept in ctx["reused"] for its evaluations; None when there is none."""
    from .results import reusable as find

    record = find(ctx["records"], seed, name, command, keep_rates)
    if record is not None:
        ctx["reused"][(seed, name)] = record
    return record
