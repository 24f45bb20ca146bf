"""Faults in real fairseq-train runs: non-finite per-sentence losses (injected through the test
plugin tests/fault_plugin), kill -9 with resume, bad input."""

import os
import shutil
import signal
import subprocess

import torch

import fairseq_autoassist  # noqa: F401  (checkpoints load with weights_only)
from runs import AUTOASSIST, REPO, log_records, records, train, train_cmd

FAULTY = ["--user-dir", str(REPO / "tests" / "fault_plugin"), "--task", "autoassist_translation",
          "--criterion", "autoassist_faulty_cross_entropy"]


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


def test_killed_five_times_and_resumed_ends_like_an_uninterrupted_run(m30k, tmp_path):
    """fairseq-train killed with SIGKILL at five points (a few updates after its last checkpoint,
    in every epoch, chunks re-planned within epochs) and resumed each time ends with the same
    plans, Assistant and training progress as a run never interrupted: no kept pair is lost or
    trained twice within an epoch beyond fairseq's own resume (the batches since the last
    checkpoint are trained again, and learned from once)."""
    args = [*AUTOASSIST, "--max-epoch", "3", "--no-epoch-checkpoints", "--save-interval-updates",
            "4", "--assistant-plan-chunks", "2", "--num-workers", "0", "--data-buffer-size", "0"]
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

    def complete(d):
        return {r["epoch"]: (r["kept_pairs"], r["checksum"]) for r in records(d)
                if r["event"] == "complete"}

    assert complete(tmp_path / "b") == complete(tmp_path / "whole")
    assert len(complete(tmp_path / "whole")) == 3
    whole, resumed = (torch.load(d / "checkpoint_last.pt", map_location="cpu", weights_only=True)
                      ["extra_state"]["train_iterator"] for d in (tmp_path / "whole", tmp_path / "b"))
    for key in ("w_src", "w_tgt", "g2_src", "g2_tgt"):
        assert torch.equal(whole["autoassist"]["assistant"][key], resumed["autoassist"]["assistant"][key])
    assert (whole["training_progress"]["trained_target_tokens"]
            == resumed["training_progress"]["trained_target_tokens"])


def test_bad_input_stops_with_an_error_naming_the_file_and_no_traceback(m30k, tmp_path):
    """A keep-rates file that is not JSON, a checkpoint without an Assistant for --assistant-init,
    a truncated token file, a missing dictionary: exit status 1, the file named, no traceback."""
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
        (no_dict, [], f"{no_dict / 'dict.en.txt'}: not found"),
    ]
    for data, extra, named in cases:
        rc, out = train(data, tmp_path / "ck", *AUTOASSIST, *extra, "--max-epoch", "1",
                        check=False)
        assert rc == 1, out[-3000:]
        assert named in out and "autoassist_translation: error:" in out, out[-3000:]
        assert "Traceback" not in out, out[-3000:]
