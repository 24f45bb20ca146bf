"""Distributed training: real fairseq-train runs on 2 CPU processes (gloo) started by
fairseq-autoassist-torchrun, compared with 1-process runs; and the launcher's flags."""

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fairseq_autoassist_cli import torchrun as launch
from runs import (AUTOASSIST, REPO, checksums, chunk_plans, log_records, plan_batches, plans,
                  progress, records, torchrun, torchrun_cmd, train, updates_per_epoch)


def each_kept_pair_trained_once(log):
    """Per epoch: the losses the Assistant received (from all ranks) equal the kept pairs."""
    records = log_records(log, "train")
    return records and all(int(float(r["train_assistant_losses"])) == int(float(r["train_kept_pairs"]))
                           for r in records)


def complete_plans(plan_dir):
    """The complete-plan records of --assistant-plan-dir, in order, and each epoch's kept ids."""
    lines = [r for r in records(plan_dir) if r["event"] == "complete"]
    kept = {r["epoch"]: np.load(plan_dir / f"epoch{r['epoch']}.npz")["kept"] for r in lines}
    return lines, kept


def test_two_ranks_train_the_one_process_plan(m30k, tmp_path):
    """With a fixed (initialised, frozen) Assistant, 2 ranks plan and train exactly the pairs a
    single process does, each kept pair once, in half the steps."""
    train(m30k, tmp_path / "init", *AUTOASSIST, "--max-epoch", "2", "--no-epoch-checkpoints")
    args = [*AUTOASSIST, "--max-epoch", "3", "--no-epoch-checkpoints", "--assistant-warmup-epochs",
            "0", "--assistant-init", tmp_path / "init" / "checkpoint_last.pt", "--assistant-freeze"]
    _, one_log = train(m30k, tmp_path / "one", *args)
    _, two_log = torchrun(m30k, tmp_path / "two", *args)
    one, two = records(tmp_path / "one"), records(tmp_path / "two")

    c1, c2 = checksums(one), checksums(two)
    assert [c[:4] for c in c1] == [c[:4] for c in c2] and len(c1) == 3
    assert {c[4] for c in c1} == {1} and {c[4] for c in c2} == {2}
    assert len({c[2] for c in c2}) == 3  # a different kept set every epoch
    assert plans(one) == plans(two)
    assert all(rate < 1.0 for *_, rate in plans(two))
    batches = [c[3] for c in c2]
    assert updates_per_epoch(one_log) == batches
    assert updates_per_epoch(two_log) == [-(-b // 2) for b in batches]
    assert each_kept_pair_trained_once(one_log) and each_kept_pair_trained_once(two_log)
    # the same pairs trained: 2 ranks count both ranks' target tokens
    tokens = progress(tmp_path / "one" / "checkpoint_last.pt")[0]
    assert progress(tmp_path / "two" / "checkpoint_last.pt")[0] == tokens > 0


def test_two_ranks_keep_one_learning_assistant_and_resume(m30k, tmp_path):
    """A learning Assistant with chunked planning: equal checksums on both ranks every epoch,
    chunks re-planned mid-epoch on both, every kept pair trained once; a run stopped mid-epoch
    resumes to the same Assistant, plan and losses."""
    args = [*AUTOASSIST, "--max-epoch", "3", "--no-epoch-checkpoints", "--assistant-plan-chunks",
            "2", "--num-workers", "0", "--data-buffer-size", "0", "--save-interval-updates", "4"]
    _, whole_log = torchrun(m30k, tmp_path / "a", *args, "--assistant-plan-dir",
                            tmp_path / "plans-a")
    assert not records(tmp_path / "a")  # --assistant-plan-dir: the records go there
    whole = records(tmp_path / "plans-a")
    c = checksums(whole)
    assert [e for e, *_ in c] == [1, 2, 3] and {n for *_, n in c} == {2}
    assert len({a for _, a, *_ in c}) == 3  # it learns between epochs
    chunks = chunk_plans(whole)
    assert [(e, k) for e, k, *_ in chunks] == [(1, 2), (2, 2), (3, 2)]
    assert all(ch[3].startswith("after batch") for ch in chunks)
    budgets = plan_batches(whole)
    steps = updates_per_epoch(whole_log)
    assert steps == [-(-budgets[e] // 2) for e in (1, 2, 3)]
    assert each_kept_pair_trained_once(whole_log)
    epoch_lines = log_records(whole_log, "train")
    assert float(epoch_lines[2]["train_keep_rate"]) < 1.0
    # the complete plans: one per epoch (the first rank writes), written once both chunks were
    # planned, agreeing with the logged kept pairs and start-plan budgets
    # (each finished epoch's Assistant figures are recorded as the next epoch is planned)
    assert [r["event"] for r in whole] == ["plan", "chunk", "complete", "assistant"] * 2 + [
        "plan", "chunk", "complete"]
    lines, kept = complete_plans(tmp_path / "plans-a")
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    for r, rec in zip(lines, epoch_lines):
        assert r["kept_pairs"] == int(float(rec["train_kept_pairs"])) == len(kept[r["epoch"]])
        assert r["chunks"] == 2 and sum(r["budgets"]) == budgets[r["epoch"]]

    stop = steps[0] + steps[1] // 2
    plan_dir = ["--assistant-plan-dir", tmp_path / "plans-b"]
    torchrun(m30k, tmp_path / "b", *args, *plan_dir, "--max-update", str(stop))
    n = len(records(tmp_path / "plans-b"))
    _, second_log = torchrun(m30k, tmp_path / "b", *args, *plan_dir)
    assert "Loaded checkpoint" in second_log
    second = records(tmp_path / "plans-b")[n:]
    assert checksums(second)[-1] == c[-1]  # epoch 3 starts from the same Assistant and plan
    resumed, resumed_kept = complete_plans(tmp_path / "plans-b")
    assert [r["epoch"] for r in resumed] == [1, 2, 3]  # the restored epoch 2 is not recorded again
    assert resumed[-1] == lines[-1] and np.array_equal(resumed_kept[3], kept[3])
    got, want = log_records(second_log, "train")[-1], epoch_lines[2]
    for key in ("train_loss", "train_nll_loss", "train_num_updates", "train_keep_rate",
                "train_kept_pairs", "train_assistant_auc", "train_assistant_losses"):
        assert got[key] == want[key], key


def test_chunks_wait_for_their_trigger_under_fairseqs_default_loader(m30k, tmp_path):
    """2 ranks, fairseq's default data loader (--num-workers 1 --data-buffer-size 10: it reads
    ahead in its own thread) and chunks of about 8 batches, which the loader reaches long before
    their triggers: it waits, and every chunk is planned right after its trigger batch, with the
    same checksums on both ranks (checked and logged); every epoch trains the pairs and target
    tokens its complete plan kept. On a loader that planned chunks early, each rank planned them
    at its own moment, from its own Assistant."""
    plans = tmp_path / "plans"
    _, log = torchrun(m30k, tmp_path / "ck", *AUTOASSIST, "--max-epoch", "2", "--max-tokens",
                      "500", "--assistant-plan-chunks", "8", "--no-epoch-checkpoints",
                      "--assistant-plan-dir", plans)
    recs = records(plans)
    budgets = {r["epoch"]: r["budgets"] for r in recs if r["event"] == "plan"}
    chunks = [r for r in recs if r["event"] == "chunk"]
    assert [(r["epoch"], r["chunk"]) for r in chunks] == [(e, k) for e in (1, 2) for k in range(2, 9)]
    for r in chunks:
        b = budgets[r["epoch"]]
        trigger = sum(b[:r["chunk"] - 2]) + b[r["chunk"] - 2] // 2
        assert r["when"].startswith("after batch ")
        assert trigger <= int(r["when"].split()[-1]) < trigger + 2, (r, b)  # 2 batches a step
    # every chunk planned once per epoch, with the checksums both ranks checked equal (the plan
    # records of the first rank; the epoch's plan record says how many ranks took part)
    assert len(chunks) == 14 and all(isinstance(r["assistant_checksum"], int)
                                     and isinstance(r["plan_checksum"], int) for r in chunks)
    assert {r["ranks"] for r in recs if r["event"] == "plan"} == {2}
    assert each_kept_pair_trained_once(log)
    complete = [r for r in recs if r["event"] == "complete"]
    assert progress(tmp_path / "ck" / "checkpoint_last.pt")[0] == sum(
        r["kept_tokens"] for r in complete)


def test_a_rank_without_batches_does_not_hang(m30k, tmp_path):
    """A plan of one batch: rank 1 trains fairseq's dummy batch every epoch and both finish."""
    rates = tmp_path / "rates.json"
    rates.write_text('{"1": 0.0}')
    _, log = torchrun(m30k, tmp_path / "ck", *AUTOASSIST, "--max-epoch", "3",
                      "--no-epoch-checkpoints", "--assistant-scorer", "random",
                      "--assistant-keep-rates", rates, timeout=240)
    assert plan_batches(records(tmp_path / "ck")) == {1: 1, 2: 1, 3: 1}
    assert updates_per_epoch(log) == [1, 1, 1]
    assert each_kept_pair_trained_once(log)


def _worker_pid(parent, rank):
    """The pid of the child process of *parent* started with RANK=*rank*."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (d / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(d.name)
    raise AssertionError(f"no child of {parent} with RANK={rank}")


def test_a_dead_rank_stops_the_others(m30k, tmp_path):
    """Rank 1 killed while training: the launcher (torchrun) stops rank 0 and exits with an
    error instead of waiting in a collective."""
    cmd = torchrun_cmd(m30k, tmp_path / "ck", *AUTOASSIST, "--max-epoch", "200",
                       "--no-save")
    proc = subprocess.Popen([str(c) for c in cmd], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "AutoAssist epoch 2:" in line:  # training, past an epoch's collectives
                break
        else:
            raise AssertionError("training never reached epoch 2:\n" + "".join(seen[-50:]))
        os.kill(_worker_pid(proc.pid, 1), signal.SIGKILL)
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, rest[-3000:]
    assert "AutoAssist epoch 200" not in rest


# ------------------------------------------------------------------ launcher flags
ENV = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}


def test_launcher_adds_the_cpu_flags():
    args = launch.train_args(["data", "--cpu", "--user-dir", "x"], ENV, cuda_available=True)
    tail = args[4:]
    assert args[:4] == ["data", "--cpu", "--user-dir", "x"]
    for flag, value in (("--distributed-init-method", "env://"), ("--distributed-rank", "1"),
                        ("--distributed-world-size", "2"), ("--device-id", "0"),
                        ("--distributed-backend", "gloo"), ("--ddp-backend", "legacy_ddp")):
        assert tail[tail.index(flag) + 1] == value, flag
    assert "--distributed-no-spawn" in tail and tail.count("--user-dir") == 0


def test_launcher_uses_the_local_gpu_and_finds_the_plugin():
    args = launch.train_args(["data"], ENV, cuda_available=True)
    assert args[args.index("--device-id") + 1] == "1"  # LOCAL_RANK
    assert "--cpu" not in args and "--distributed-backend" not in args  # nccl, fairseq's default
    assert Path(args[args.index("--user-dir") + 1]).name == "fairseq_autoassist"
    cpu = launch.train_args(["data", "--ddp-backend", "no_c10d"], ENV, cuda_available=False)
    assert "--cpu" in cpu and cpu.count("--ddp-backend") == 1


@pytest.mark.parametrize("args,env,message", [
    (["data", "--ddp-backend=pytorch_ddp"], ENV, "does not train on CPU"),
    (["data"], {"RANK": "0"}, "WORLD_SIZE, LOCAL_RANK not set"),
])
def test_launcher_rejects_what_cannot_run(args, env, message):
    with pytest.raises(SystemExit, match=message):
        launch.train_args(args, env, cuda_available=False)


def test_launcher_needs_the_separator(capsys):
    assert launch.main(["--nproc_per_node", "2", "data"]) == 2
    assert "after '--'" in capsys.readouterr().err
