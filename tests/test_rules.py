"""Keep rules, loss weights, the noisy-corpus script and the frontier's saving arithmetic, in-process."""

import json

import numpy as np
import pytest
import torch

import fairseq_autoassist  # noqa: F401  (registers the task, criterion and schedule)
from fairseq_autoassist.assistant import Assistant
from fairseq_autoassist.rules import KeepRule, anneal_start
from test_units import setup, synthetic  # noqa: F401  (fixture)


class _Scores:
    """An Assistant stand-in: probability of hard = (id % 10) / 10, confidence 0.3."""
    confidence = 0.3
    loss_mean = 5.0

    def hard_prob(self, tables, ids):
        return (np.asarray(ids) % 10) / 10.0


class _Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def test_infobatch_drops_only_predicted_learned_pairs_and_reweights_their_survivors():
    rule = KeepRule(_Scores(), _Sized(100), rule="infobatch", prune_ratio=0.25, warmup_epochs=1)
    ids = np.arange(100)
    keep, weight = rule.decide(2, ids)
    learned = ids % 10 < 5  # probability of hard 0.0 .. 0.4
    assert np.all(keep[learned] == 0.75) and np.all(keep[~learned] == 1.0)
    assert np.all(weight[learned] == 1 / 0.75) and np.all(weight[~learned] == 1.0)
    # in expectation every pair contributes its loss once: keep * weight == 1
    np.testing.assert_allclose(keep * weight, 1.0)
    keep, weight = rule.decide(1, ids)  # warm-up
    assert np.all(keep == 1.0) and np.all(weight == 1.0)


def test_paper_rule_reweights_by_the_inverse_keep_probability_capped():
    rule = KeepRule(_Scores(), _Sized(100), rule="paper", base_prob=0.2, reweight=True,
                    reweight_max=1.3, warmup_epochs=0)
    ids = np.arange(100)
    keep, weight = rule.decide(1, ids)
    p = 0.7  # max(0.2, 1 - confidence 0.3)
    np.testing.assert_allclose(keep, p + (1 - p) * (ids % 10) / 10)
    np.testing.assert_allclose(weight, np.minimum(1 / keep, 1.3))
    plain = KeepRule(_Scores(), _Sized(100), rule="paper", base_prob=0.2, warmup_epochs=0)
    assert np.all(plain.decide(1, ids)[1] == 1.0)


@pytest.mark.parametrize("max_epoch,anneal,first", [(12, 0.125, 11), (8, 0.125, 8), (4, 0.5, 3),
                                                    (10, 0.0, None)])
def test_annealing_epochs_keep_every_pair(max_epoch, anneal, first):
    assert anneal_start(anneal, max_epoch) == (first if first else float("inf"))
    rule = KeepRule(_Scores(), _Sized(50), rule="infobatch", anneal=anneal, max_epoch=max_epoch)
    for epoch in range(2, max_epoch + 1):
        keep, weight = rule.decide(epoch, np.arange(50))
        full = first is not None and epoch >= first
        assert (keep.min() == 1.0 and weight.max() == 1.0) == full, epoch


def test_random_control_applies_the_rule_to_a_random_group_at_the_given_rate():
    n = 200_000
    rule = KeepRule(None, _Sized(n), rule="infobatch", prune_ratio=0.5,
                    random_rates={1: 1.0, 2: 0.7}, seed=3)
    keep, weight = rule.decide(2, np.arange(n))
    group = weight > 1  # the random "learned" group: 60% of the pairs so that 1 - 0.6 * 0.5 = 0.7
    assert abs(group.mean() - 0.6) < 0.01 and np.all(weight[group] == 2.0)
    assert np.all(keep[group] == 0.5) and np.all(keep[~group] == 1.0)
    assert abs(keep.mean() - 0.7) < 0.005
    paper = KeepRule(None, _Sized(10), rule="paper", reweight=True, random_rates={2: 0.5})
    keep, weight = paper.decide(3, np.arange(10))
    assert np.all(keep == 0.5) and np.all(weight == 2.0)


def test_skip_hard_skips_pairs_that_stay_in_their_batchs_top_losses():
    tables, _, loss, vocab = synthetic(n=400)
    a = Assistant(tables, vocab, vocab, track_pairs=True, hard_fraction=0.1)
    noisy = np.arange(0, 400, 10)  # 10% of the pairs always have the highest loss
    per_tok = np.full(400, 2.0) + np.random.default_rng(0).random(400)
    per_tok[noisy] = 9.0
    rule = KeepRule(a, tables, rule="skip-hard", base_prob=0.25, hard_streak=2, warmup_epochs=1)
    for epoch in (1, 2):
        a.begin_epoch(epoch, 400)
        for lo in range(0, 400, 100):
            ids = np.arange(lo, lo + 100)
            a.learn(tables, ids, per_tok[ids] * 10, np.full(100, 10.0))
        keep, weight = rule.decide(epoch + 1, np.arange(400))
        skipped = np.flatnonzero(keep < 1)
        if epoch == 1:  # one observation: not yet a streak of 2
            assert len(skipped) == 0
        else:
            np.testing.assert_array_equal(skipped, noisy)
            assert np.all(keep[noisy] == 0.25) and np.all(weight == 1.0)
    # a skipped pair that comes back and is no longer hard loses its streak
    a.begin_epoch(3, 400)
    a.learn(tables, noisy[:5], np.full(5, 20.0), np.full(5, 10.0))
    assert np.all(a.hard_streaks(noisy[:5]) == 0)


def test_last_loss_scorer_counts_unseen_pairs_as_hard():
    tables, _, _, vocab = synthetic(n=100)
    a = Assistant(tables, vocab, vocab, track_pairs=True)
    a.begin_epoch(1, 100)
    a.learn(tables, np.arange(50), np.r_[np.full(25, 10.0), np.full(25, 50.0)], np.full(50, 10.0))
    learned = a.learned_by_last_loss(np.arange(100))
    assert learned[:25].all() and not learned[25:].any()  # 1.0 < mean 3.0 < 5.0; 50..99 unseen
    rule = KeepRule(a, tables, rule="infobatch", scorer="last-loss", warmup_epochs=0)
    keep, weight = rule.decide(1, np.arange(100))
    assert np.all(keep[:25] == 0.5) and np.all(keep[25:] == 1.0) and np.all(weight[:25] == 2.0)


# ------------------------------------------------------------------ weighted criterion
def test_weighted_loss_is_the_weighted_sum_of_sentence_losses(setup):  # noqa: F811
    task, cfg, model, valid = setup
    from fairseq_autoassist.criterion import AutoAssistLabelSmoothedCrossEntropyCriterion

    criterion = AutoAssistLabelSmoothedCrossEntropyCriterion(task, False, 0.1)
    sample = valid.collater([valid[i] for i in range(12)])
    model.train()
    torch.manual_seed(0)
    loss, size, log = criterion(model, sample)
    per_sentence, _ = criterion.pop_sentence_losses()
    torch.manual_seed(0)
    ones, size1, log1 = criterion(model, dict(sample, pair_weight=torch.ones(12)))
    assert torch.equal(ones, loss) and size1 == size  # weights of 1: the same bits
    w = torch.linspace(0.5, 3.0, 12)
    torch.manual_seed(0)
    weighted, size_w, log_w = criterion(model, dict(sample, pair_weight=w))
    assert size_w == size  # fairseq's normalisation is unchanged
    torch.testing.assert_close(weighted, (w * per_sentence).sum(), rtol=1e-5, atol=1e-4)
    assert log_w["nll_loss"] == log["nll_loss"]  # the logged NLL stays unweighted


# ------------------------------------------------------------------ noisy corpus
def test_corrupt_misaligns_the_recorded_pairs_only(m30k, tmp_path):
    from fairseq.data import indexed_dataset

    from data_prep import corrupt

    dest = tmp_path / "noisy"
    assert corrupt.main(["--src-dir", str(m30k), "--dest", str(dest), "--fraction", "0.2",
                         "--seed", "7"]) == 0
    record = json.loads((dest / "corrupted.json").read_text())
    ids = np.array(record["ids"])
    clean = indexed_dataset.MMapIndexedDataset(str(m30k / "train.de-en.en"))
    noisy = indexed_dataset.MMapIndexedDataset(str(dest / "train.de-en.en"))
    src_a = indexed_dataset.MMapIndexedDataset(str(m30k / "train.de-en.de"))
    src_b = indexed_dataset.MMapIndexedDataset(str(dest / "train.de-en.de"))
    assert len(noisy) == len(clean) and len(ids) == round(0.2 * len(clean))
    changed = [i for i in range(len(clean)) if not torch.equal(clean[i], noisy[i])]
    assert set(changed) <= set(ids.tolist()) and len(changed) >= 0.95 * len(ids)
    assert all(torch.equal(src_a[i], src_b[i]) for i in range(len(clean)))
    for i, donor in zip(record["ids"][:50], record["target_from"][:50]):
        assert donor != i and torch.equal(noisy[i], clean[donor])
    assert json.loads((dest / "manifest.json").read_text())["corrupted"]["count"] == len(ids)
    assert corrupt.main(["--src-dir", str(m30k), "--dest", str(dest)]) == 1  # never overwrites


# ------------------------------------------------------------------ the saving
def test_saving_interpolates_on_the_baseline_frontier():
    from scripts import frontier

    base = [{"budget": 0.5, "trained_target_tokens": 100, "valid_nll": 3.0},
            {"budget": 0.75, "trained_target_tokens": 150, "valid_nll": 2.6},
            {"budget": 1.0, "trained_target_tokens": 200, "valid_nll": 2.4}]
    # 2.5 bits: halfway between 150 and 200 tokens, so the baseline needs 175 tokens for it; the
    # run spent 160: saving 1 - 160/175 = 3/35; that quality sits at 175/200 of budget 1
    s = frontier.saving(base, {"trained_target_tokens": 160, "valid_nll": 2.5}, "valid_nll",
                        "trained_target_tokens")
    assert s["where"] == "inside" and abs(s["saving"] - 3 / 35) < 1e-12
    assert abs(s["frontier_ratio"] - 0.875) < 1e-12
    assert not s["reaches_1.0"] and s["ratio_1.0"] == 0.8
    # below the frontier: 2.8 bits needs 125 tokens, the run spent 150 -> 1 - 150/125 = -20%
    s = frontier.saving(base, {"trained_target_tokens": 150, "valid_nll": 2.8}, "valid_nll",
                        "trained_target_tokens")
    assert s["where"] == "inside" and abs(s["saving"] + 0.2) < 1e-12
    # better than every baseline point: at least 1 - 110/200
    s = frontier.saving(base, {"trained_target_tokens": 110, "valid_nll": 2.3}, "valid_nll",
                        "trained_target_tokens")
    assert s["where"] == "above" and s["reaches_1.0"] and abs(s["saving"] - 0.45) < 1e-12
    # worse than every baseline point: at most 1 - 90/100
    s = frontier.saving(base, {"trained_target_tokens": 90, "valid_nll": 3.2}, "valid_nll",
                        "trained_target_tokens")
    assert s["where"] == "below" and abs(s["saving"] - 0.1) < 1e-12


def test_first_seed_budgets_add_baselines_to_the_first_seed_only():
    from scripts import curve, frontier

    args = curve.parse_args(["--data", "d", "--arch", "tiny", "--out", "o", "--epochs", "4",
                             "--budgets", "0.5,1", "--first-seed-budgets", "2,1",
                             "--rules", "infobatch", "--seeds", "3,1"])
    first, second = frontier.plan_runs(args, 0), frontier.plan_runs(args, 1)
    assert [(r[0], r[4]) for r in first] == [
        ("baseline-0.5", 2), ("baseline-1", 4), ("baseline-2", 8),
        ("infobatch", 4), ("infobatch-random", 4)]
    assert [r[0] for r in second] == [  # the second seed: no 2E baseline, groups rotated by one
        "baseline-1", "infobatch", "infobatch-random", "baseline-0.5"]
    with pytest.raises(SystemExit):
        curve.parse_args(["--data", "d", "--arch", "tiny", "--out", "o", "--epochs", "4",
                          "--first-seed-budgets", "two"])
