"""scripts/noise_compare.py: the ratios and the gap recovered that docs/noise.md's tables print."""

from scripts import noise_compare


def _point(method, tokens, wall, nll, bleu, forward=0.0, seed=1):
    return {"method": method, "seed": seed, "trained_target_tokens": tokens,
            "extra_forward_tokens": forward, "wall_seconds": wall, "valid_nll": nll, "bleu": bleu}


def test_ratios_are_to_the_same_seeds_noisy_baseline_and_the_gap_needs_a_gap():
    points = noise_compare.relate([
        _point("noisy baseline 1", 1000, 200.0, 3.5, 28.0),
        _point("clean baseline 1", 900, 150.0, 3.3, 32.0),
        _point("skip-noise", 800, 170.0, 3.4, 29.0, forward=250),
    ])
    rule = points[2]
    assert rule["tokens_ratio"] == 0.8 and rule["forward_ratio"] == 0.25
    assert rule["wall_ratio"] == 0.85
    assert abs(rule["nll_vs_noisy"] + 0.1) < 1e-12 and rule["bleu_vs_noisy"] == 1.0
    assert rule["gap_recovered"] == 0.25  # 1 of the 4 BLEU between noisy and clean

    # a clean baseline below the noisy one (the crawl mixture): nothing to recover, no share
    crawl = noise_compare.relate([
        _point("noisy baseline 1", 1000, 200.0, 2.671, 39.24),
        _point("clean baseline 1", 820, 150.0, 2.659, 38.71),
        _point("skip-noise", 930, 170.0, 2.659, 39.02),
    ], walls=False)
    assert all("gap_recovered" not in p for p in crawl)
    assert all("wall_ratio" not in p for p in crawl)
    assert crawl[2]["tokens_ratio"] == 0.93
