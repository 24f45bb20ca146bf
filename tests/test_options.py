"""Options that would do nothing say so, only fairseq-train plans, and the plan records are
strict JSON (issue 26): each combination by itself, then real fairseq-train and fairseq-validate
runs."""

import json
import re
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
    assert flags(rule="swiftlearn", swiftlearn_keep=0.1, swiftlearn_interval=3) == []
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
    (dict(rule="swiftlearn", base_prob=0.3), "--assistant-base-prob"),
    (dict(rule="paper", swiftlearn_keep=0.1), "--assistant-swiftlearn-keep"),
    (dict(swiftlearn_interval=1), "--assistant-swiftlearn-interval"),
    (dict(keep_rates="rates.json"), "--assistant-keep-rates"),  # the scorer is not random
    (dict(off=True, rule="paper"), "--assistant-rule"),  # nothing of AutoAssist runs
])
def test_each_ignored_option_is_named(changed, flag):
    assert flags(**changed) == [flag]


def test_a_scorer_the_rule_ignores_is_named():
    """skip-hard reads each pair's loss streak and skip-noise its noise evidence: neither reads a
    scorer but the random control's (issue 35)."""
    assert flags(rule="skip-hard", scorer="last-loss") == ["--assistant-scorer"]
    assert flags(rule="skip-noise", scorer="last-loss") == ["--assistant-scorer"]
    assert flags(rule="swiftlearn", scorer="last-loss") == ["--assistant-scorer"]
    assert flags(rule="paper", scorer="last-loss") == flags(scorer="last-loss") == []
    for rule in ("skip-hard", "skip-noise", "swiftlearn"):
        assert flags(rule=rule, scorer="random", keep_rates="rates.json") == []


ASSISTANT_OWN = dict(features="bow", lr=0.1, l2=0.01, mean="prev-epoch", mean_decay=0.5,
                     init="run/checkpoint_last.pt", freeze=True)


@pytest.mark.parametrize("run, named", [
    (dict(rule="skip-noise"), ASSISTANT_OWN),  # reads no Assistant
    (dict(rule="swiftlearn"), ASSISTANT_OWN),  # neither
    (dict(rule="paper", scorer="random", keep_rates="rates.json"), ASSISTANT_OWN),
    (dict(rule="skip-noise", scorer="random", keep_rates="rates.json"), ASSISTANT_OWN),
    # reads only each pair's loss streak (kept unless frozen; --assistant-init sets it)
    (dict(rule="skip-hard"), ("features", "lr", "l2", "mean", "mean_decay")),
    # reads only the running mean and each pair's last loss
    (dict(scorer="last-loss"), ("features", "lr", "l2")),
    (dict(rule="paper", init="run/checkpoint_last.pt", freeze=True), ("lr", "l2", "mean",
                                                                      "mean_decay")),
    (dict(rule="paper"), ()),  # reads all of it
    (dict(rule="paper", scorer="last-loss"), ()),  # the floor reads the Assistant's confidence
    (dict(), ()),  # infobatch with the Assistant's scores
])
def test_the_assistants_own_options_are_named_where_no_rule_reads_them(run, named):
    """Each of the Assistant's own options is named where the run's rule does not read the part
    of the Assistant it changes, and only when it is set."""
    assert flags(**run) == flags(rule=run.get("rule", "infobatch")) == []  # nothing set
    for name, value in ASSISTANT_OWN.items():
        if name in run:
            continue
        alone = dict(run, **{name: value})
        if name == "freeze" and "init" not in run:
            alone["init"] = ASSISTANT_OWN["init"]  # (a frozen Assistant needs one)
        expected = [f"--assistant-{n.replace('_', '-')}" for n in named if n in alone]
        assert sorted(flags(**alone)) == sorted(expected), name


@pytest.mark.parametrize("rule, name, value", [
    ("skip-noise", "noise_threshold", 3.0), ("skip-noise", "noise_no_language", True),
    ("skip-noise", "noise_contrast_share", 0.5), ("skip-noise", "noise_post_process", "none"),
    ("skip-noise", "base_prob", 0.2), ("paper", "base_prob", 0.2),
    ("skip-hard", "hard_fraction", 0.1), ("skip-hard", "hard_streak", 3),
    ("paper", "warmup_epochs", 2), ("swiftlearn", "swiftlearn_keep", 0.1),
    ("swiftlearn", "swiftlearn_interval", 1),
])
def test_the_random_control_names_the_rule_options_it_ignores(rule, name, value):
    """The random control keeps random pairs at its keep rates in every epoch: it measures no
    noise or importance and reads no base probability, warm-up or loss streak, even under the
    rule that otherwise reads them."""
    control = dict(rule=rule, scorer="random", keep_rates="rates.json")
    assert flags(**control) == []
    assert flags(**control, **{name: value}) == ["--assistant-" + name.replace("_", "-")]
    assert flags(rule=rule, **{name: value}) == []  # the rule itself reads it


def test_check_training_warns_of_an_ignored_option_only_when_it_is_set(caplog):
    with caplog.at_level("WARNING", logger="fairseq_autoassist.options"):
        options.check_training(config(rule="skip-noise"), AutoAssistTranslationConfig)
        assert not caplog.records
        options.check_training(config(rule="skip-noise", lr=0.1), AutoAssistTranslationConfig)
    assert [r.getMessage() for r in caplog.records] == [
        "AutoAssist: --assistant-lr does nothing in this run: --assistant-rule skip-noise reads "
        "no Assistant (the Assistant's model learns only for its own figures: the epoch line's "
        "assistant_*, plans.jsonl, the data report)"]


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
    # under a rule that reads no Assistant the error says what it would spoil
    with pytest.raises(options.AutoAssistError, match="would report the figures of an Assistant"):
        options.check_training(config(freeze=True, rule="skip-noise"), AutoAssistTranslationConfig)


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
                   "--assistant-base-prob", "0.3", "--no-epoch-checkpoints",
                   "--assistant-scorer", "last-loss", "--assistant-lr", "0.3")
    assert "--assistant-base-prob does nothing in this run: --assistant-rule infobatch" in log
    # the last-loss scorer reads no Assistant's model (issue 35)
    assert ("--assistant-lr does nothing in this run: infobatch with --assistant-scorer "
            "last-loss") in log
    assert "--assistant-scorer does nothing" not in log
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


@pytest.mark.parametrize("changed, message", [
    (dict(swiftlearn_keep=0.0), "--assistant-swiftlearn-keep must be in (0, 1], got 0.0"),
    (dict(swiftlearn_keep=1.5), "--assistant-swiftlearn-keep must be in (0, 1], got 1.5"),
    (dict(swiftlearn_interval=-1), "--assistant-swiftlearn-interval must be >= 0, got -1"),
])
def test_swiftlearn_values_out_of_range_stop_naming_the_flag(changed, message):
    options.check_values(config(rule="swiftlearn", swiftlearn_keep=0.1, swiftlearn_interval=0))
    with pytest.raises(options.AutoAssistError, match=re.escape(message)):
        options.check_values(config(rule="swiftlearn", **changed))
