"""The swiftlearn rule (--assistant-rule swiftlearn): its selection by hand-made numbers, and real
fairseq-train runs of a tiny transformer: the kept share, the importance against the Boss's own
losses computed here with fairseq's functions, the extra forward tokens, the random control, and
a SIGKILL in the middle of an epoch on 2 ranks."""

import json
import math
import signal

import numpy as np
import pytest
import torch
from fairseq.data import data_utils

from runs import USER_DIR, log_records, records, torchrun, train
from test_faults import FAULTY_TASK
from fairseq_autoassist.records import read_kept
from fairseq_autoassist.swiftlearn import Importance

SWIFTLEARN = ["--user-dir", USER_DIR, "--task", "autoassist_translation", "--criterion",
              "autoassist_label_smoothed_cross_entropy", "--assistant-rule", "swiftlearn"]


def test_keeps_the_most_important_share_and_a_dropped_pair_returns():
    imp = Importance(5, keep=0.4, interval=1, warmup_epochs=1)
    assert imp.keep_prob([0, 4]).tolist() == [1.0, 1.0]  # the warm-up keeps every pair
    # per-token losses 0.5, 3, 1, 2, 2: pairs 1, then 3 and 4 tied (the lower id first)
    measured = lambda losses: lambda: (np.arange(5), np.array(losses) * 10.0, np.full(5, 10.0))
    imp.begin_epoch(1, measured([9] * 5))  # the warm-up measures nothing
    assert np.isnan(imp.loss).all() and imp.epoch_forward_tokens == 0
    imp.begin_epoch(2, measured([0.5, 3, 1, 2, 2]))
    assert imp.keep_prob(range(5)).tolist() == [0, 1, 0, 1, 0]
    assert imp.returned == 0 and imp.stats()["swiftlearn_forward_tokens"] == 50
    # pair 0's importance rises above the others': it comes back, pair 3 is dropped
    imp.begin_epoch(3, measured([4, 3, 1, 2, 2]))
    assert imp.keep_prob(range(5)).tolist() == [1, 1, 0, 0, 0]
    assert imp.returned == 1 and imp.forward_tokens == 100
    imp.begin_epoch(3, measured([0, 0, 0, 0, 9]))  # the same epoch planned again: not measured
    assert imp.keep_prob(range(5)).tolist() == [1, 1, 0, 0, 0] and imp.forward_tokens == 100
    # a non-finite loss counts as least important; a share rounds up
    imp = Importance(3, keep=0.5, interval=0, warmup_epochs=0)
    imp.begin_epoch(1, lambda: (np.arange(3), np.array([np.nan, 1.0, 2.0]), np.ones(3)))
    assert imp.keep_prob(range(3)).tolist() == [0, 1, 1]


@pytest.mark.parametrize("warmup,interval,due", [
    (1, 2, [2, 4, 6]), (1, 0, [2]), (0, 1, [1, 2, 3, 4, 5, 6]), (2, 3, [3, 6])])
def test_measured_after_the_warm_up_then_every_interval(warmup, interval, due):
    imp = Importance(2, keep=0.5, interval=interval, warmup_epochs=warmup)
    assert [e for e in range(1, 7) if imp.due(e)] == due


def test_state_round_trip():
    imp = Importance(4, keep=0.5, interval=1, warmup_epochs=0)
    imp.begin_epoch(1, lambda: (np.arange(4), np.array([1.0, 4, 2, 3]), np.full(4, 2.0)))
    again = Importance(4, keep=0.5, interval=1, warmup_epochs=0)
    again.load_state_dict(imp.state_dict())
    assert again.checksum() == imp.checksum() and again.stats() == imp.stats()
    with pytest.raises(ValueError, match="of 4 pairs, the corpus has 3"):
        Importance(3, 0.5, 1, 0).load_state_dict(imp.state_dict())


def per_token_losses(checkpoint, data, eps=0.1):
    """Every training pair's per-token label-smoothed loss under *checkpoint*'s model in
    evaluation mode, computed here with fairseq's functions, in batches of 50 pairs in id
    order."""
    from fairseq import checkpoint_utils
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint)], arg_overrides={"data": str(data)})
    model = models[0].eval()
    task.load_dataset("train")
    dataset = task.dataset("train")
    pad = task.target_dictionary.pad()
    out = np.zeros(len(dataset))
    with torch.no_grad():
        for start in range(0, len(dataset), 50):
            sample = dataset.collater([dataset[i] for i in range(start, min(start + 50, len(dataset)))])
            lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True)
            loss, _ = label_smoothed_nll_loss(lprobs.view(-1, lprobs.size(-1)),
                                              sample["target"].view(-1), eps, ignore_index=pad,
                                              reduce=False)
            tokens = sample["target"].ne(pad).sum(1)
            out[sample["id"].numpy()] = (loss.view(len(tokens), -1).sum(1) / tokens).numpy()
    return out


def test_trains_on_the_bosss_most_important_pairs_and_counts_the_forward_passes(m30k, tmp_path):
    """3 epochs, 1 warm-up epoch, keep 0.3, measured at the start of epochs 2 and 3: each keeps
    ceil(0.3 n) pairs, the top 30% by the per-token loss of the model that ended the epoch before
    (computed here from its checkpoint, with fairseq's functions); the pairs measured are every
    training pair's target tokens, counted in the epoch line; epoch 3 brings back the pairs its
    measurement ranks above those of epoch 2. The random control at the run's keep rates keeps
    other pairs at those rates and measures nothing."""
    plans = tmp_path / "plans"
    args = [*SWIFTLEARN, "--assistant-swiftlearn-keep", "0.3", "--assistant-swiftlearn-interval",
            "1", "--max-epoch", "3", "--disable-validation", "--assistant-plan-dir", plans]
    _, log = train(m30k, tmp_path / "run", *args)
    recs = {r["epoch"]: r for r in records(plans) if r["event"] == "plan"}
    n, all_tokens = recs[1]["candidates"], recs[1]["kept_tokens"]
    epochs = log_records(log, "train")
    assert [int(e["train_swiftlearn_forward_tokens"]) for e in epochs] == [0, all_tokens,
                                                                           all_tokens]
    kept = {e: set(read_kept(plans, e)[0].tolist()) for e in (2, 3)}
    for epoch in (2, 3):
        assert len(kept[epoch]) == recs[epoch]["kept_pairs"] == math.ceil(0.3 * n)
        losses = per_token_losses(tmp_path / "run" / f"checkpoint{epoch - 1}.pt", m30k)
        top = set(np.argsort(-losses, kind="stable")[:math.ceil(0.3 * n)].tolist())
        assert len(top & kept[epoch]) >= 0.98 * len(top), epoch  # ties at the edge, rounding
    assert int(epochs[2]["train_swiftlearn_returned"]) == len(kept[3] - kept[2]) > 0

    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({str(e): r["keep_rate"] for e, r in recs.items()}))
    control = tmp_path / "control-plans"
    _, log = train(m30k, tmp_path / "control", *args[:-1], control, "--assistant-scorer",
                   "random", "--assistant-keep-rates", rates)
    assert "swiftlearn" not in json.dumps(log_records(log, "train"))  # nothing measured
    assert "importance of" not in log
    for epoch in (2, 3):
        mine = set(read_kept(control, epoch)[0].tolist())
        assert abs(len(mine) / n - 0.3) < 0.05 and len(mine & kept[epoch]) < 0.5 * len(mine)


def test_killed_in_the_middle_of_an_epoch_on_two_ranks_resumes_like_an_uninterrupted_run(
        m30k, tmp_path):
    """2 ranks, measured before every epoch (no warm-up), 4 chunks per epoch: killed (SIGKILL)
    while epoch 2's third chunk is planned, resumed from the checkpoint saved after its 6th batch
    (all ranks), after epoch 2's measurement. The resumed epoch keeps the importance measured at
    its start (not measured again with the model trained further): chunks 3 and 4 are planned as
    in the uninterrupted run (same kept pairs, same checksums, which cover the importance), and
    the run ends with the same importance state; the ranks agree on every plan (else training
    stops) and count every pair's forward tokens once."""
    args = [*FAULTY_TASK, "--assistant-rule", "swiftlearn", "--assistant-warmup-epochs", "0",
            "--assistant-swiftlearn-interval", "1", "--max-epoch", "2",
            "--assistant-plan-chunks", "4", "--save-interval-updates", "5",
            "--no-epoch-checkpoints", "--disable-validation", "--num-workers", "0",
            "--data-buffer-size", "0"]
    _, log = torchrun(m30k, tmp_path / "whole", *args, "--assistant-plan-dir",
                      tmp_path / "plans-whole")
    plan_dir = ["--assistant-plan-dir", tmp_path / "plans-b"]
    # decide: epoch 1's plan and its 3 chunk re-plans, epoch 2's plan, chunk 2, chunk 3 (7th)
    _, log_b = torchrun(m30k, tmp_path / "b", *args, *plan_dir, check=False,
                        env={"AUTOASSIST_FAULT_KILL": "decide:7:1"})
    assert "Signal 9 (SIGKILL)" in log_b, log_b[-3000:]
    n = len(records(tmp_path / "plans-b"))
    _, log_b = torchrun(m30k, tmp_path / "b", *args, *plan_dir)

    whole, resumed = records(tmp_path / "plans-whole"), records(tmp_path / "plans-b")[n:]
    assert [(r["event"], r.get("chunk")) for r in resumed] == [
        ("plan", None), ("chunk", 3), ("chunk", 4), ("complete", None)]
    assert resumed[0]["epoch"] == 2 and resumed[0]["restored"]
    assert "importance of" not in log_b  # the resumed epoch was measured before the kill
    epoch2 = [r for r in whole if r["epoch"] == 2 and r["event"] in ("chunk", "complete")]
    assert resumed[1:] == epoch2[1:]
    for a, b in zip(*(read_kept(tmp_path / d, 2) for d in ("plans-whole", "plans-b"))):
        assert np.array_equal(a, b)  # kept ids, their weights, dropped ids
    a, b = (torch.load(tmp_path / d / "checkpoint_last.pt", map_location="cpu", weights_only=True)
            ["extra_state"]["train_iterator"]["autoassist"]["importance"] for d in ("whole", "b"))
    targets = data_utils.load_indexed_dataset(str(m30k / "train.de-en.en"), None)
    assert a["forward_tokens"] == 2 * int(targets.sizes.sum()) and a["measured_epoch"] == 2
    for key in a:
        assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])), key
    assert "identical on all 2 rank(s)" in log
