"""Faults in real fairseq-train runs: non-finite per-sentence losses (injected through the test
plugin tests/fault_plugin), kill -9 with resume, bad input."""

import os
import shutil
import signal
import subprocess

import numpy as np
import pytest
import torch

import fairseq_autoassist  # noqa: F401  (checkpoints load with weights_only)
from runs import (AUTOASSIST, REPO, log_records, records, torchrun, torchrun_cmd, train,
                  train_cmd)

FAULTY = ["--user-dir", str(REPO / "tests" / "fault_plugin"), "--task", "autoassist_translation",
          "--criterion", "autoassist_faulty_cross_entropy"]
FAULTY_TASK = ["--user-dir", str(REPO / "tests" / "fault_plugin"), "--task",
               "autoassist_translation_faulty", "--criterion",
               "autoassist_label_smoothed_cross_entropy"]


def complete_plans(directory):
    """{epoch: (kept pairs, checksum)} of the plans trained, from the plan records."""
    return {r["epoch"]: (r["kept_pairs"], r["checksum"]) for r in records(directory)
            if r["event"] == "complete"}


def assistant_state(checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["extra_state"]
    return state["train_iterator"]["autoassist"], state["train_iterator"]["training_progress"]


def assert_ends_like(resumed, whole):
    """The run in *resumed* ended with the plans, Assistant and trained tokens of the 3-epoch run
    in *whole*."""
    assert complete_plans(resumed) == complete_plans(whole)
    assert len(complete_plans(whole)) == 3
    (a, a_progress), (b, b_progress) = (assistant_state(d / "checkpoint_last.pt")
                                        for d in (whole, resumed))
    if "history" in a:  # --assistant-loss-history: every pair's losses, each epoch once
        trained = sum(kept for kept, _ in complete_plans(whole).values())
        assert int(a["history"]["epochs"].sum()) == trained  # each kept pair once per epoch
        for key, value in a["history"].items():
            assert torch.equal(value, b["history"][key]), key
    a, b = a["assistant"], b["assistant"]
    for key in ("w", "g2"):  # source and target
        for x, y in zip(a[key], b[key]):
            assert torch.equal(x, y), key
    assert a["scalars"].tolist() == b["scalars"].tolist() and a["loss_mean"] == b["loss_mean"]
    assert a_progress["trained_target_tokens"] == b_progress["trained_target_tokens"]


def test_non_finite_sentence_losses_are_counted_and_never_learned(m30k, tmp_path):
    """The per-sentence losses of step 3 are NaN: the Assistant learns from none of them, the
    epoch line counts them (assistant_nonfinite), training goes on as stock fairseq would."""
    _, log = train(m30k, tmp_path / "ck", *FAULTY, "--max-epoch", "2", "--no-epoch-checkpoints",
                   env={"AUTOASSIST_FAULT_NAN": "3"})
    epochs = log_records(log, "train")
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    nonfinite = [int(float(r["train_assistant_nonfinite"])) for r in epochs]
    assert nonfinite[0] > 0 and nonfinite[1] == 0
    # every kept pair's loss was received, the NaN ones included
    assert int(float(epochs[0]["train_assistant_losses"])) == int(float(epochs[0]["train_kept_pairs"]))


def test_out_of_memory_on_one_rank_skips_its_batch_and_the_ranks_go_on(m30k, tmp_path):
    """2 ranks, --update-freq 2: rank 1 runs out of memory (injected) in the last micro-batch of
    update 3. fairseq skips that batch on rank 1 and goes on; rank 1 still joins the loss
    exchange, so both ranks keep one Assistant (the epoch-2 plan's checksums agree, else the run
    stops) and its batch's losses are the only ones never learned from."""
    _, log = torchrun(m30k, tmp_path / "ck", *FAULTY, "--max-epoch", "2", "--update-freq", "2",
                      "--no-epoch-checkpoints", env={"AUTOASSIST_FAULT_OOM": "1:6"}, timeout=300)
    assert "attempting to recover from OOM" in log
    epochs = log_records(log, "train")
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    received = [int(float(r["train_assistant_losses"])) for r in epochs]
    kept = [int(float(r["train_kept_pairs"])) for r in epochs]
    assert 0 < kept[0] - received[0] <= 200 and received[1] == kept[1]  # one batch missed
    epoch2 = [r for r in records(tmp_path / "ck") if r["event"] == "plan" and r["epoch"] == 2]
    assert epoch2 and epoch2[0]["ranks"] == 2


def test_a_retried_step_and_a_skipped_micro_batch_leave_every_trigger_in_place(m30k, tmp_path):
    """Chunked planning on 2 ranks: a step trained twice on the same batch (as fairseq's --amp
    feeds a batch again after an overflow; injected on both ranks) and, with --update-freq 2, a
    micro-batch skipped after an out-of-memory error on rank 1 leave every chunk planned after
    the batch at which an uninterrupted run plans it (training progress counts the batches the
    iterator handed out, not the steps run)."""
    args = [*FAULTY_TASK[:-1], "autoassist_faulty_cross_entropy", "--max-epoch", "1",
            "--max-tokens", "500", "--assistant-plan-chunks",
            "4", "--no-epoch-checkpoints", "--num-workers", "0", "--data-buffer-size", "0"]

    def triggers(name, *extra, env=None):
        """(chunk, when, the update in which it was planned) of each chunk re-planned."""
        _, log = torchrun(m30k, tmp_path / name, *args, *extra, "--log-interval", "1", env=env,
                          timeout=300)
        update, planned = 0, []
        for line in log.splitlines():  # a step's chunk line comes before its train_inner line
            inner = log_records(line, "train_inner")
            if inner:
                update = int(float(inner[0]["num_updates"]))
            elif " planned after batch " in line:
                planned.append(update + 1)
        recs = [r for r in records(tmp_path / name) if r["event"] == "chunk"]
        assert len(planned) == len(recs)
        return log, [(r["chunk"], r["when"], u) for r, u in zip(recs, planned)]

    _, plain = triggers("plain")
    assert len(plain) == 3 and all(w.startswith("after batch") for _, w, _ in plain)
    assert triggers("retried", env={"AUTOASSIST_FAULT_RETRY": "3"})[1] == plain
    _, grouped = triggers("grouped", "--update-freq", "2")
    log, skipped = triggers("oom", "--update-freq", "2", env={"AUTOASSIST_FAULT_OOM": "1:6"})
    assert "attempting to recover from OOM" in log
    assert skipped == grouped


def within(timeout, cmd, env):
    """(return code, output) of *cmd*, which must end within *timeout* seconds: a hang fails the
    test instead of hanging CI (the launcher is stopped with SIGTERM, which stops its workers)."""
    proc = subprocess.Popen([str(c) for c in cmd], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", **env))
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        pytest.fail(f"no end within {timeout} s (the ranks hang):\n{out[-3000:]}")
    return proc.returncode, out


@pytest.mark.parametrize("fault", ["oom", "error"])
def test_a_failure_in_the_contrast_pass_on_one_rank_never_hangs(m30k, tmp_path, fault):
    """skip-noise on 2 ranks, measuring from epoch 1, 2 chunks: the third extra forward pass of
    the contrast on rank 1 fails (injected; the ranks' collectives of the step come after it).
    Out of memory: rank 1 measures nothing in that step and still joins the exchange, training
    goes on, and both ranks keep one state (chunk 2 is re-planned later with checksums, which
    cover the gains, equal on both, else the run stops). Any other failure: every rank stops
    with an error naming rank 1. A hang fails the test at its timeout."""
    cmd = torchrun_cmd(m30k, tmp_path / "ck", *FAULTY_TASK, "--assistant-rule", "skip-noise",
                       "--assistant-warmup-epochs", "0", "--assistant-noise-no-language",
                       "--max-epoch", "1", "--assistant-plan-chunks", "2", "--no-save",
                       "--assistant-plan-dir", tmp_path / "plans", "--disable-validation")
    rc, log = within(300, cmd, {"AUTOASSIST_FAULT_CONTRAST": f"1:3:{fault}"})
    chunks = [r for r in records(tmp_path / "plans") if r["event"] == "chunk"]
    if fault == "oom":
        assert rc == 0, log[-3000:]
        assert "rank 1 ran out of memory in the rolled-source extra forward pass" in log
        assert len(chunks) == 1 and int(chunks[0]["when"].split()[-1]) > 6  # after the fault
        assert int(float(log_records(log, "train")[0]["train_noise_forward_tokens"])) > 0
    else:
        assert rc != 0 and "done training" not in log and not chunks
        assert "a failure injected by tests/fault_plugin" in log  # the failing rank's traceback
        # rank 0 stops by itself (the launcher does not have to stop it)
        assert "rank 0 stops: the skip-noise rolled-source extra forward pass failed on rank(s) [1]" \
            in log, log[-3000:]


def test_out_of_memory_that_fairseq_cannot_recover_from_stops_every_rank(m30k, tmp_path):
    """The same in the first micro-batch of an update: fairseq's legacy_ddp (the CPU backend)
    would leave rank 1's gradient sync off and both ranks waiting forever (stock fairseq hangs
    too); instead the run stops on both ranks with an error saying why."""
    rc, log = torchrun(m30k, tmp_path / "ck", *FAULTY, "--max-epoch", "2", "--update-freq", "2",
                       "--no-epoch-checkpoints", env={"AUTOASSIST_FAULT_OOM": "1:5"},
                       check=False, timeout=300)
    assert rc != 0
    assert "cannot recover from" in log and "legacy_ddp" in log
    assert not log_records(log, "train")  # stopped in epoch 1


def test_an_error_in_the_assistants_step_stops_training_with_its_traceback(m30k, tmp_path):
    """The criterion hands over one loss fewer than its batch has pairs at step 3: the training
    step that learns from them raises, and fairseq-train exits non-zero with the traceback
    instead of training on with a broken Assistant."""
    rc, log = train(m30k, tmp_path / "ck", *FAULTY, "--max-epoch", "2", "--no-epoch-checkpoints",
                    "--log-format", "json", "--log-interval", "1", check=False,
                    env={"AUTOASSIST_FAULT_BROKEN": "3"})
    assert rc != 0
    assert "Traceback" in log and "observe" in log
    assert max(int(float(r["num_updates"])) for r in log_records(log, "train_inner")) <= 3
    assert not log_records(log, "train")


def test_killed_five_times_and_resumed_ends_like_an_uninterrupted_run(m30k, tmp_path):
    """fairseq-train killed with SIGKILL at five points (a few updates after its last checkpoint,
    in every epoch, chunks re-planned within epochs) and resumed each time ends with the same
    plans, Assistant and training progress as a run never interrupted: no kept pair is lost or
    trained twice within an epoch beyond fairseq's own resume (the batches since the last
    checkpoint are trained again, and learned from once)."""
    args = [*AUTOASSIST, "--max-epoch", "3", "--no-epoch-checkpoints", "--save-interval-updates",
            "4", "--assistant-plan-chunks", "2", "--num-workers", "0", "--data-buffer-size", "0",
            "--assistant-loss-history"]
    train(m30k, tmp_path / "whole", *args)
    cmd = [str(c) for c in train_cmd(m30k, tmp_path / "b", *args)]
    for kill_at in (10, 30, 45, 60, 75):  # updates; one epoch has about 38, later ones fewer
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        killed = False
        for line in proc.stdout:
            recs = log_records(line, "train_inner")
            if recs and int(float(recs[0]["num_updates"])) >= kill_at:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        proc.wait(timeout=120)
        proc.stdout.close()
        assert killed, f"the run ended before update {kill_at}"
    train(m30k, tmp_path / "b", *args)

    assert_ends_like(tmp_path / "b", tmp_path / "whole")


@pytest.mark.parametrize("ranks,loader", [(1, "in-thread"), (2, "in-thread"), (2, "default")])
def test_killed_while_planning_or_saving_resumes_like_an_uninterrupted_run(m30k, tmp_path, ranks,
                                                                          loader):
    """Chunked planning (2 chunks per epoch), a checkpoint every 10 updates. Killed (SIGKILL) while
    the keep rule decides an epoch's plan, while it re-plans a chunk (on the last rank), and while
    a checkpoint is being saved (on rank 0, which saves); each time resumed: the run ends with the
    plans, Assistant and trained tokens of an uninterrupted one. Also under fairseq's default
    data loader (--num-workers 1 --data-buffer-size 10: it reads ahead in its own thread and
    waits for each chunk), where the resumed epoch's chunks come from a new loader."""
    args = [*FAULTY_TASK, "--max-epoch", "3", "--assistant-plan-chunks", "2",
            "--save-interval-updates", "10", "--no-epoch-checkpoints", "--assistant-loss-history"]
    if loader == "in-thread":
        args += ["--num-workers", "0", "--data-buffer-size", "0"]
    start = train if ranks == 1 else torchrun
    start(m30k, tmp_path / "whole", *args)
    # the keep rule decides once per epoch plan and once per chunk re-plan; each resumed process
    # counts from 1 again
    for fault in (f"decide:3:{ranks - 1}", f"decide:2:{ranks - 1}", "state_dict:2:0"):
        rc, log = start(m30k, tmp_path / "b", *args, check=False,
                        env={"AUTOASSIST_FAULT_KILL": fault})
        killed = rc == -signal.SIGKILL if ranks == 1 else "Signal 9 (SIGKILL)" in log
        assert killed, (fault, rc, log[-3000:])
        assert "done training" not in log, fault
    start(m30k, tmp_path / "b", *args)
    assert_ends_like(tmp_path / "b", tmp_path / "whole")


def test_bad_input_stops_with_an_error_naming_the_file_and_no_traceback(m30k, tmp_path):
    """A keep-rates file that is not JSON, a checkpoint without an Assistant for --assistant-init,
    a truncated token file, a missing dictionary, a missing --assistant-init file, a missing data
    directory: exit status 1, the file named (the real cause), no traceback."""
    train(m30k, tmp_path / "stock", "--task", "translation", "--criterion",
          "label_smoothed_cross_entropy", "--max-update", "2", "--no-epoch-checkpoints")
    rates = tmp_path / "rates.json"
    rates.write_text("not JSON\n")
    truncated, no_dict = tmp_path / "truncated", tmp_path / "no_dict"
    for d in (truncated, no_dict):
        shutil.copytree(m30k, d)
    tokens = truncated / "train.de-en.en.bin"
    tokens.write_bytes(tokens.read_bytes()[: tokens.stat().st_size // 2])
    (no_dict / "dict.en.txt").unlink()
    cases = [
        (m30k, ["--assistant-scorer", "random", "--assistant-keep-rates", rates], str(rates)),
        (m30k, ["--assistant-init", tmp_path / "stock" / "checkpoint_last.pt"],
         "checkpoint_last.pt: not a checkpoint of an autoassist_translation run"),
        (truncated, [], f"{truncated}: target side: its token file is truncated"),
        (no_dict, [], f"{no_dict / 'dict.en.txt'}: not found in the data directory"),
        (m30k, ["--assistant-init", tmp_path / "nope.pt"], f"{tmp_path / 'nope.pt'}: no such file"),
        (tmp_path / "no_data", [], f"data directory {tmp_path / 'no_data'} not found"),
    ]
    for data, extra, named in cases:
        rc, out = train(data, tmp_path / "ck", *AUTOASSIST, *extra, "--max-epoch", "1",
                        check=False)
        assert rc == 1, out[-3000:]
        assert named in out and "autoassist_translation: error:" in out, out[-3000:]
        assert "Traceback" not in out, out[-3000:]


def write_shard(data, dest, n_pairs):
    """A second shard of *data*: *n_pairs* of its training pairs (from the first, cycling), with
    its dictionaries and valid split (fairseq reads the dictionaries of the first shard only)."""
    from fairseq.data import indexed_dataset

    dest.mkdir()
    for f in data.iterdir():
        if f.name.startswith(("dict.", "valid.")):
            shutil.copy(f, dest / f.name)
    for lang in ("de", "en"):
        prefix = f"train.de-en.{lang}"
        source = indexed_dataset.MMapIndexedDataset(str(data / prefix))
        builder = indexed_dataset.MMapIndexedDatasetBuilder(str(dest / f"{prefix}.bin"),
                                                            dtype=source._index.dtype)
        for i in range(n_pairs):
            builder.add_item(source[i % len(source)])
        builder.finalize(str(dest / f"{prefix}.idx"))


def assistant_of(data):
    """The Assistant fairseq-train builds on *data* (the task, its training split and iterator
    built in this process, as fairseq-train builds them)."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from runs import ARCHS

    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data), "-s", "de", "-t", "en", *AUTOASSIST, *ARCHS["transformer"], "--cpu",
        "--max-tokens", "1000", "--no-save"])
    task = tasks.setup_task(convert_namespace_to_omegaconf(args).task)
    task.load_dataset("train", combine=True, epoch=1)
    task.get_batch_iterator(task.dataset("train"), max_tokens=1000, seed=1, epoch=1)
    return task.autoassist.assistant


def test_sharded_data_statistics_count_every_shard(m30k, tmp_path):
    """The Assistant's IDF and mean lengths count the training pairs of every shard (not only the
    shard loaded first): the same whichever shard comes first, and equal to the formula of
    assistant.py counted here sentence by sentence with Python sets."""
    from fairseq.data import indexed_dataset

    write_shard(m30k, tmp_path / "b", 700)
    shards = [m30k, tmp_path / "b"]
    forward, backward = (assistant_of(":".join(map(str, order))) for order in (shards, shards[::-1]))
    one = assistant_of(m30k)
    for k, lang in enumerate(("de", "en")):
        sentences = [s.tolist() for d in shards for s in
                     indexed_dataset.MMapIndexedDataset(str(d / f"train.de-en.{lang}"))]
        n, df = len(sentences), np.zeros(len(forward.w[k]))
        for tokens in sentences:
            df[list(set(tokens))] += 1
        want = np.log((1.0 + n) / (1.0 + df)) + 1.0
        np.testing.assert_allclose(forward.idf[k], want)
        np.testing.assert_allclose(backward.idf[k], want)
        assert forward.mean_len[k] == backward.mean_len[k] == pytest.approx(
            sum(map(len, sentences)) / n)
        assert not np.allclose(one.idf[k], want)  # the first shard alone counts otherwise


def test_sharded_data_plans_each_shard_and_reset_dataloader_starts_a_new_assistant(m30k, tmp_path):
    """fairseq's sharded data (DIR_A:DIR_B: epoch e trains shard (e - 1) mod 2): each epoch plans
    the pairs of its own shard, pruning goes on across shards. --reset-dataloader on resume
    discards the iterator's state, which carries the Assistant: training starts again at epoch 1
    with a new Assistant that warms up, as stock fairseq starts its epochs again."""
    write_shard(m30k, tmp_path / "b", 700)
    shards = f"{m30k}:{tmp_path / 'b'}"
    args = [*AUTOASSIST, "--no-epoch-checkpoints"]
    _, log = train(shards, tmp_path / "ck", *args, "--max-epoch", "3")
    first = records(tmp_path / "ck")
    started = [r for r in first if r["event"] == "plan"]
    assert [r["epoch"] for r in started] == [1, 2, 3]
    sizes = [r["candidates"] for r in started]
    assert sizes[0] == sizes[2] > 1900 and sizes[1] == 700  # each epoch its own shard
    assert started[0]["keep_rate"] == 1.0 and started[2]["keep_rate"] < 1.0
    assert [int(float(r["train_assistant_losses"])) for r in log_records(log, "train")] == [
        r["kept_pairs"] for r in first if r["event"] == "complete"]  # every kept pair learned

    _, log = train(shards, tmp_path / "ck", *args, "--max-epoch", "2", "--reset-dataloader")
    assert "Loaded checkpoint" in log
    again = [r for r in records(tmp_path / "ck")[len(first):] if r["event"] == "plan"]
    assert [r["epoch"] for r in again] == [1, 2]
    # a new Assistant: the checksum of the first run's untrained one, and a warm-up epoch
    assert again[0]["assistant_checksum"] == started[0]["assistant_checksum"]
    assert again[0]["keep_rate"] == 1.0 and again[0]["candidates"] == sizes[0]

    # per-pair state (skip-hard's loss streaks) starts again with each shard, here a larger one
    write_shard(m30k, tmp_path / "c", 2500)
    train(f"{m30k}:{tmp_path / 'c'}", tmp_path / "ck2", *args, "--assistant-rule", "skip-hard",
          "--max-epoch", "2")
    assert [r["candidates"] for r in records(tmp_path / "ck2") if r["event"] == "plan"][1] == 2500
