"""The per-pair loss history (--assistant-loss-history): what it keeps, by hand-computed values."""

import numpy as np
import pytest

from fairseq_autoassist.history import LossHistory


def test_figures_of_hand_made_trajectories():
    h = LossHistory(4)
    h.observe(1, [0, 1, 2], [4.0, 2.0, 3.0])  # batch mean 3
    h.observe(2, [0, 1], [2.0, 2.0])  # batch mean 2
    h.observe(3, [0], [1.0])
    f = h.figures()
    assert f["epochs_seen"].tolist() == [3, 2, 1, 0]
    np.testing.assert_allclose(f["loss_mean"][:3], [7 / 3, 2.0, 3.0])
    np.testing.assert_allclose(f["loss_spread"][:3], [np.std([4, 2, 1]), 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(f["loss_drop"][:2], [(4 - 1) / 4, 0.0])
    assert np.isnan(f["loss_drop"][2])  # seen once: no drop
    np.testing.assert_allclose(f["relative_loss"][:3], [(4 / 3 + 1 + 1) / 3, (2 / 3 + 1) / 2, 1.0],
                               rtol=1e-6)
    assert all(np.isnan(f[k][3]) for k in ("loss_mean", "loss_spread", "relative_loss"))


def test_a_pair_counts_once_per_epoch_and_bad_losses_never():
    h = LossHistory(3)
    h.observe(1, [0, 1], [1.0, np.nan])  # a non-finite loss
    h.observe(1, [0, 2], [5.0, 3.0])  # a retried step: pair 0 again in epoch 1
    f = h.figures()
    assert f["epochs_seen"].tolist() == [1, 0, 1]
    assert f["loss_mean"][0] == 1.0 and f["loss_mean"][2] == 3.0


def test_state_round_trip_and_another_corpus_is_refused():
    h = LossHistory(3)
    h.observe(1, [0, 1], [1.0, 2.0])
    h.observe(2, [1], [1.5])
    again = LossHistory(3)
    again.load_state_dict(h.state_dict())
    assert again.checksum() == h.checksum()
    for k, v in h.figures().items():
        np.testing.assert_array_equal(again.figures()[k], v)
    again.observe(2, [1], [9.0])  # the restored epoch mark still stops a repeat
    assert again.checksum() == h.checksum()
    with pytest.raises(ValueError, match="of \\[3\\] pairs, the corpus has 4"):
        LossHistory(4).load_state_dict(h.state_dict())
