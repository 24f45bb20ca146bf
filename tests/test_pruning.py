"""Real fairseq-train runs of the learning-rate schedule that follows the data
(``autoassist_cosine``) and of the unbiased pruning rule (``infobatch``): tiny models, a 2,000-pair
Multi30k subset."""

import glob

import numpy as np
import torch

from runs import AUTOASSIST, log_records, train, updates_per_epoch

PEAK = 3e-3  # runs.OPTIM's --lr
COSINE = ["--lr-scheduler", "autoassist_cosine", "--warmup-updates", "5"]


def epoch_end_lrs(log):
    return [float(r["train_lr"]) for r in log_records(log, "train")]


def test_schedule_reaches_its_floor_at_the_last_epoch_with_and_without_pruning(m30k, tmp_path):
    """Cosine over 3 epochs of data: the rate at the end of epoch e is PEAK (1 + cos(pi e / 3)) / 2
    (0.75, 0.25, 0 of PEAK), whether epochs are full (baseline) or pruned (infobatch, epoch 2)."""
    want = [PEAK * 0.75, PEAK * 0.25, 0.0]
    _, base = train(m30k, tmp_path / "base", *AUTOASSIST, "--assistant-off", *COSINE,
                    "--max-epoch", "3", "--no-save")
    _, pruned = train(m30k, tmp_path / "pruned", *AUTOASSIST, "--assistant-rule", "infobatch",
                      *COSINE, "--max-epoch", "3", "--no-save")
    for log in (base, pruned):
        np.testing.assert_allclose(epoch_end_lrs(log), want, rtol=1e-5, atol=1e-9)
    steps_base, steps_pruned = updates_per_epoch(base), updates_per_epoch(pruned)
    assert steps_pruned[1] < 0.9 * steps_base[1]  # a pruned epoch advanced it as far
    assert steps_pruned[0] == steps_base[0] and steps_pruned[2] == steps_base[2]  # warm-up, anneal


def test_infobatch_weights_and_schedule_resume_exactly(m30k, tmp_path):
    args = [*AUTOASSIST, "--assistant-rule", "infobatch", *COSINE, "--max-epoch", "4",
            "--no-epoch-checkpoints", "--save-interval-updates", "10"]
    _, whole = train(m30k, tmp_path / "a", *args)
    steps = updates_per_epoch(whole)
    stop = steps[0] + steps[1] + steps[2] // 2  # in the middle of pruned epoch 3
    train(m30k, tmp_path / "b", *args, "--max-update", str(stop))
    _, second = train(m30k, tmp_path / "b", *args)
    assert "Loaded checkpoint" in second
    resumed, want = log_records(second, "train"), log_records(whole, "train")[2:]
    assert len(resumed) == 2
    for got, exp in zip(resumed, want):
        for key in ("train_loss", "train_nll_loss", "train_lr", "train_num_updates",
                    "train_keep_rate", "train_kept_pairs", "train_weight_mean"):
            assert got[key] == exp[key], key
    records = log_records(whole, "train")
    # the last 1/8 of 4 epochs (epoch 4) anneals to every pair, weight 1
    assert [float(r["train_keep_rate"]) for r in records][::3] == [1.0, 1.0]
    assert float(records[3]["train_weight_mean"]) == 1.0
    for r in records[1:3]:  # pruned epochs: survivors of the learned group weigh 2
        assert float(r["train_keep_rate"]) < 1.0 and float(r["train_weight_mean"]) > 1.0


def test_infobatch_weighs_exactly_the_kept_learned_pairs(m30k, tmp_path):
    """With --assistant-scorer last-loss, a pair is learned when its last loss (epoch 1) is below
    the running mean: read both from the checkpoint that ends epoch 1, and the plan of epoch 2
    (kept pairs and weights) from a checkpoint in the middle of epoch 2."""
    save = tmp_path / "ck"
    _, log = train(m30k, save, *AUTOASSIST, "--assistant-rule", "infobatch",
                   "--assistant-scorer", "last-loss", "--assistant-prune-ratio", "0.4",
                   "--assistant-anneal", "0",
                   "--max-epoch", "2", "--save-interval-updates", "40",
                   "--max-update", str(45))
    epoch1 = torch.load(save / "checkpoint1.pt", weights_only=False)
    assistant = epoch1["extra_state"]["train_iterator"]["autoassist"]["assistant"]
    last = assistant["last_loss"].numpy()
    learned = np.isfinite(last) & (last < assistant["loss_mean"])
    mid = glob.glob(str(save / "checkpoint_2_*.pt"))
    assert mid, "no checkpoint in the middle of epoch 2"
    plan = torch.load(mid[0], weights_only=False)["extra_state"]["train_iterator"]["autoassist"]
    assert plan["keep_epoch"] == 2
    keep, weight = plan["keep"].numpy(), plan["weight"].numpy()
    assert 0.2 < learned.mean() < 0.8 and np.isfinite(last).all()  # epoch 1 saw every pair
    assert keep[~learned].all()  # every pair still hard is kept
    assert np.all(weight[keep & learned] == np.float32(1 / 0.6))
    assert np.all(weight[keep & ~learned] == 1.0)
    n = learned.sum()
    kept_learned = (keep & learned).sum() / n
    assert abs(kept_learned - 0.6) < 4 * (0.24 / n) ** 0.5


def test_the_default_rule_is_infobatch_and_runs_without_max_epoch(m30k, tmp_path):
    """No --assistant-rule: infobatch. Without --max-epoch there are no epochs to anneal over: it
    says so and prunes every epoch after the warm-up (--assistant-anneal > 0 would be an error)."""
    default = [arg for arg in AUTOASSIST if arg not in ("--assistant-rule", "paper")]
    _, log = train(m30k, tmp_path / "ck", *default, "--max-update", "100", "--no-save")
    assert "rule infobatch" in log and "without --max-epoch no epoch is annealed" in log
    rates = [float(r["train_keep_rate"]) for r in log_records(log, "train")]
    assert len(rates) >= 3 and rates[0] == 1.0 and all(r < 1.0 for r in rates[1:])
    rc, out = train(m30k, tmp_path / "ck2", *default, "--assistant-anneal", "0.25",
                    "--max-update", "5", "--no-save", check=False)
    assert rc == 1 and "--assistant-anneal 0.25 anneals the last epochs of --max-epoch" in out
