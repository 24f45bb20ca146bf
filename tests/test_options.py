"""Options that would do nothing say so, only fairseq-train plans, and the plan records are
strict JSON (issue 26): each combination by itself, then real fairseq-train and fairseq-validate
runs."""

import json
from types import SimpleNamespace

import pytest
from runs import AUTOASSIST, records, run, train

from fairseq_autoassist import options
from fairseq_autoassist.records import PlanRecords, read_records
from fairseq_autoassist.task import AutoAssistTranslationConfig


def config(**changed):
    """The task config's defaults (assistant_* fields), with *changed*."""
    cfg = {f: getattr(AutoAssistTranslationConfig, f) for f in
           AutoAssistTranslationConfig.__dataclass_fields__ if f.startswith("assistant_")}
    cfg.update({"assistant_" + k: v for k, v in changed.items()})
    return SimpleNamespace(max_epoch=4, **cfg)


def flags(**changed):
    return [flag for flag, _ in options.ignored(config(**changed), AutoAssistTranslationConfig)]


def test_the_defaults_and_options_read_by_their_rule_warn_of_nothing():
    assert flags() == []
    assert flags(rule="paper", base_prob=0.3, reweight=True, reweight_max=2.0) == []
    assert flags(rule="skip-hard", base_prob=0.2, hard_fraction=0.1, hard_streak=3) == []
    assert flags(rule="skip-noise", base_prob=0.2, noise_threshold=3.0) == []
    assert flags(scorer="random", keep_rates="rates.json") == []


@pytest.mark.parametrize("changed, flag", [
    (dict(base_prob=0.3), "--assistant-base-prob"),  # infobatch, the default, ignores it
    (dict(rule="paper", prune_ratio=0.3), "--assistant-prune-ratio"),
    (dict(reweight=True), "--assistant-reweight"),
    (dict(rule="paper", reweight_max=2.0), "--assistant-reweight-max"),  # no --assistant-reweight
    (dict(rule="paper", hard_fraction=0.1), "--assistant-hard-fraction"),
    (dict(rule="skip-noise", hard_streak=3), "--assistant-hard-streak"),
    (dict(rule="skip-hard", noise_threshold=3.0), "--assistant-noise-threshold"),
    (dict(noise_contrast_share=0.5), "--assistant-noise-contrast-share"),
    (dict(keep_rates="rates.json"), "--assistant-keep-rates"),  # the scorer is not random
    (dict(off=True, rule="paper"), "--assistant-rule"),  # nothing of AutoAssist runs
])
def test_each_ignored_option_is_named(changed, flag):
    assert flags(**changed) == [flag]


def test_grouped_shuffling_with_chunks_is_named():
    cfg = config(plan_chunks=4)
    named = options.ignored(cfg, AutoAssistTranslationConfig, grouped_shuffling=True)
    assert [f for f, _ in named] == ["--grouped-shuffling"]
    assert options.ignored(config(), AutoAssistTranslationConfig, grouped_shuffling=True) == []


def test_freeze_without_init_stops():
    # library code raises the plugin's error class (the task's hooks tell it and exit 1)
    with pytest.raises(options.AutoAssistError, match="--assistant-freeze without --assistant-init"):
        options.check_training(config(freeze=True), AutoAssistTranslationConfig)
    options.check_training(config(freeze=True, init="run/checkpoint_last.pt"),
                           AutoAssistTranslationConfig)


def test_plan_records_are_strict_json(tmp_path):
    """An Assistant statistic that is not known yet (NaN) is written as null, never as the NaN
    literal that strict JSON parsers refuse."""
    PlanRecords(tmp_path).assistant(1, {"assistant_auc": float("nan"), "assistant_acc": 0.75})

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    line = (tmp_path / "plans.jsonl").read_text().strip()
    record = json.loads(line, parse_constant=refuse)
    assert record["assistant_auc"] is None and record["assistant_acc"] == 0.75
    assert read_records(tmp_path)[0]["assistant_auc"] is None


def test_fairseq_train_warns_and_stops_fairseq_validate_never_plans(m30k, tmp_path):
    """A real run names the option its rule ignores; --assistant-freeze without --assistant-init
    stops before training; fairseq-validate on the training split of the run's checkpoint builds
    no Assistant and appends no plan record."""
    save = tmp_path / "ck"
    _, log = train(m30k, save, *AUTOASSIST[:-2], "--max-epoch", "1",
                   "--assistant-base-prob", "0.3", "--no-epoch-checkpoints")
    assert "--assistant-base-prob does nothing in this run: --assistant-rule infobatch" in log
    before = records(save)
    assert before and not any("nan" in json.dumps(r).lower() for r in before)

    _, out = run(["fairseq-validate", m30k, "--path", save / "checkpoint_last.pt",
                  "--user-dir", AUTOASSIST[1], "--task", "autoassist_translation",
                  "--valid-subset", "train", "--cpu", "--max-tokens", "2000"])
    assert "'train' subset" in out
    assert "AutoAssist: Assistant on" not in out
    assert records(save) == before

    rc, out = train(m30k, tmp_path / "frozen", *AUTOASSIST, "--max-epoch", "1",
                    "--assistant-freeze", check=False)
    assert rc == 1 and "error: --assistant-freeze without --assistant-init" in out
