"""experiment compare (scripts/noise_compare.py): the ratios and the gap recovered that docs/noise.md's tables print."""

from scripts import noise_compare


def _point(method, tokens, wall, nll, bleu, forward=0.0, seed=1, **extra):
    return {"method": method, "seed": seed, "trained_target_tokens": tokens,
            "extra_forward_tokens": forward, "wall_seconds": wall, "valid_nll": nll, "bleu": bleu,
            **extra}


def test_ratios_are_to_the_same_seeds_noisy_baseline_and_the_gap_needs_a_gap():
    points = noise_compare.relate([
        _point("noisy baseline 1", 1000, 200.0, 3.5, 28.0),
        _point("clean baseline 1", 900, 150.0, 3.3, 32.0),
        _point("skip-noise", 800, 170.0, 3.4, 29.0, forward=250, wall_reference=200.0),
        _point("heuristic filter", 900, 100.0, 3.5, 28.5),  # trained on another day
    ])
    rule = points[2]
    assert "wall_ratio" not in points[3] and points[3]["tokens_ratio"] == 0.9
    assert rule["tokens_ratio"] == 0.8 and rule["forward_ratio"] == 0.25
    assert rule["wall_ratio"] == 0.85
    assert abs(rule["nll_vs_noisy"] + 0.1) < 1e-12 and rule["bleu_vs_noisy"] == 1.0
    assert rule["gap_recovered"] == 0.25  # 1 of the 4 BLEU between noisy and clean

    # a clean baseline below the noisy one (the crawl mixture): nothing to recover, no share
    crawl = noise_compare.relate([
        _point("noisy baseline 1", 1000, 200.0, 2.671, 39.24),
        _point("clean baseline 1", 820, 150.0, 2.659, 38.71),
        _point("skip-noise", 930, 170.0, 2.659, 39.02, wall_reference=200.0),
    ], walls=False)
    assert all("gap_recovered" not in p for p in crawl)
    assert all("wall_ratio" not in p for p in crawl)
    assert crawl[2]["tokens_ratio"] == 0.93


def test_a_wall_ratio_is_to_the_baseline_of_the_same_invocation(tmp_path):
    header = "run,seed,budget,rule,trained_target_tokens,extra_forward_tokens,wall_seconds,valid_nll,bleu\n"
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    # the first invocation: baseline and rule; a later one (a slower day): baseline again and skip-hard
    (noisy / "curve.csv").write_text(header + "baseline,1,1.0,,1000,0,200,3.5,28\n"
                                     "autoassist,1,,skip-noise,840,200,170,3.47,29\n")
    (noisy / "curve-later.csv").write_text(header + "baseline,1,1.0,,1000,0,300,3.5,28\n"
                                           "autoassist,1,,skip-hard,740,0,240,3.65,28.4\n")
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "curve.csv").write_text(header + "baseline,1,1.0,,980,0,190,3.3,32\n")
    offline = tmp_path / "offline" / "heuristic" / "train"
    offline.mkdir(parents=True)
    (offline / "curve.csv").write_text(header + "baseline,1,1.0,,900,0,270,3.49,29\n")
    by = {p["method"]: p for p in noise_compare.relate(noise_compare.collect(
        noisy, clean, tmp_path / "offline", wall_baselines=noisy / "curve-later.csv"))}
    assert by["skip-noise"]["wall_ratio"] == 170 / 200
    assert by["skip-hard"]["wall_ratio"] == 240 / 300
    assert by["heuristic filter"]["wall_ratio"] == 270 / 300
    assert "wall_ratio" not in by["clean baseline 1"]
    by = {p["method"]: p for p in noise_compare.relate(noise_compare.collect(
        noisy, clean, tmp_path / "offline"))}
    assert "wall_ratio" not in by["heuristic filter"]


def test_kinds_epoch_table_reads_the_rules_drops_per_epoch(tmp_path):
    """scripts/noise_kinds.py: skip-noise's precision / recall per epoch from summary.json's
    ``planted`` records; an epoch without drops (the warm-up) shows as "–"."""
    import json

    from scripts import noise_kinds

    (tmp_path / "summary.json").write_text(json.dumps({"planted": {"pairs": 20, "runs": {
        "seed1/skip-noise": {
            "1": {"dropped": 0, "planted_dropped": 0, "precision": None, "recall": 0.0},
            "2": {"dropped": 10, "planted_dropped": 9, "precision": 0.9, "recall": 0.45},
            "3": {"dropped": 8, "planted_dropped": 8, "precision": 1.0, "recall": 0.4}}}}}))
    per_epoch = noise_kinds.epoch_drops(tmp_path, 1, "skip-noise")
    assert sorted(per_epoch) == [1, 2, 3]
    lines = noise_kinds.epoch_table([{"kind": "copies", "method": "skip-noise",
                                      "drops_per_epoch": per_epoch}])
    assert lines[-2:] == ["|---|---:|---:|---:|", "| copies | – | 0.90 / 0.45 | 1.00 / 0.40 |"]
