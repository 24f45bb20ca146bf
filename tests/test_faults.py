"""Faults injected into real fairseq-train runs through the test plugin tests/fault_plugin:
out of memory on one of two ranks, non-finite per-sentence losses."""

from runs import REPO, log_records, records, run, torchrun_cmd, train

FAULTY = ["--user-dir", str(REPO / "tests" / "fault_plugin"), "--task", "autoassist_translation",
          "--criterion", "autoassist_faulty_cross_entropy"]


def test_out_of_memory_on_one_rank_does_not_hang(m30k, tmp_path):
    """Rank 1 runs out of memory in its 5th training forward: fairseq skips that batch on that
    rank and goes on; the exchange of losses between ranks goes on with it instead of waiting for
    a rank that never comes (a hang, cut by the timeout). (--update-freq 2: the rank still has
    the step's other batch, which fairseq's own exchange of statistics needs.)"""
    cmd = torchrun_cmd(m30k, tmp_path / "ck", *FAULTY, "--max-epoch", "2",
                       "--no-epoch-checkpoints", "--update-freq", "2")
    _, log = run(cmd, timeout=300, env={"AUTOASSIST_FAULT_OOM": "1:5"})
    assert "CUDA out of memory (injected" in log
    assert "attempting to recover from OOM" in log
    epochs = log_records(log, "train")
    assert [int(r["epoch"]) for r in epochs] == [1, 2]
    # the skipped batch's losses never reached the Assistant: one batch fewer than kept pairs
    first = epochs[0]
    assert int(float(first["train_assistant_losses"])) < int(float(first["train_kept_pairs"]))
    assert [r["epoch"] for r in records(tmp_path / "ck") if r["event"] == "plan"] == [1, 2]


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
