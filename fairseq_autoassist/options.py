"""The task's options, checked: a value out of range stops with an error naming the flag (whenever
the task is built); when fairseq-train starts, a flag that the chosen rule, scorer or setting
ignores is named in a warning, and a combination that would mislead stops with an error, so that
no option does nothing without a word. Also the values options imply (the annealed epochs, the
random control's keep rates), and the error class of the plugin: library code raises
:class:`AutoAssistError`; the task's fairseq hooks (:func:`tell_errors`) turn it into
``autoassist_translation: error: ...`` and exit status 1."""

import dataclasses
import functools
import json
import logging
import os

logger = logging.getLogger(__name__)


class AutoAssistError(ValueError):
    """A mistake the user can fix (a flag, a file, the data), told without a traceback."""


def fail(message):
    raise AutoAssistError(message)


def tell_errors(hook, name="autoassist_translation"):
    """*hook* of the task or the schedule *name* (called by fairseq's commands), with an
    :class:`AutoAssistError` told as ``NAME: error: ...`` and exit status 1."""
    @functools.wraps(hook)
    def told(*args, **kwargs):
        try:
            return hook(*args, **kwargs)
        except AutoAssistError as e:
            raise SystemExit(f"{name}: error: {e}") from None
    return told


# the hooks of --lr-scheduler autoassist_cosine (schedule.py): "autoassist_cosine: error: ..."
tell_schedule_errors = functools.partial(tell_errors, name="autoassist_cosine")


def anneal(cfg):
    """--assistant-anneal, or its default: 0.125 for ``infobatch`` when --max-epoch is set (the
    epochs it anneals over), else 0."""
    if cfg.assistant_anneal is not None:
        return cfg.assistant_anneal
    return 0.125 if cfg.assistant_rule == "infobatch" and (cfg.max_epoch or 0) > 0 else 0.0


def read_keep_rates(cfg):
    """{epoch: keep rate} of --assistant-keep-rates (the random control), checked; else None."""
    if cfg.assistant_scorer != "random":
        return None
    path = cfg.assistant_keep_rates
    if not path:
        fail("--assistant-scorer random needs --assistant-keep-rates FILE")
    try:
        with open(path) as f:
            rates = {int(e): float(r) for e, r in json.load(f).items()}
    except (OSError, ValueError, AttributeError) as e:
        fail(f"--assistant-keep-rates {path}: expected a JSON object {{epoch: keep rate}} ({e})")
    if not rates or not all(0.0 <= r <= 1.0 for r in rates.values()):
        fail(f"--assistant-keep-rates {path}: rates must be in [0, 1], got {rates}")
    return rates


def language_pair(data, source_lang=None, target_lang=None):
    """The (source, target) languages of data directory *data* (of DATA_A:DATA_B:..., the first,
    which holds the dictionaries), checked to have both dictionaries: *source_lang* and
    *target_lang* (-s/-t), or where either is None the pair fairseq infers from the directory's
    file names (``<split>.<src>-<tgt>.*``), as its translation task does. Raises
    :class:`AutoAssistError` naming what is missing; every command that reads a checkpoint or
    sets up the task checks with it."""
    from fairseq import utils
    from fairseq.data.data_utils import infer_language_pair

    directory = utils.split_paths(str(data))[0]
    if not os.path.isdir(directory):
        fail(f"data directory {directory} not found")
    if source_lang is None or target_lang is None:
        source_lang, target_lang = infer_language_pair(directory)
        if source_lang is None:
            fail(f"{directory}: no <split>.<src>-<tgt>.* files to infer the language pair from "
                 "(prepared with fairseq-preprocess or data_prep?)")
    missing = [path for path in (os.path.join(directory, f"dict.{lang}.txt")
                                 for lang in (source_lang, target_lang))
               if not os.path.isfile(path)]
    if missing:
        fail(f"{', '.join(missing)}: not found in the data directory (prepared with "
             "fairseq-preprocess or data_prep?)")
    return source_lang, target_lang


# --assistant-NAME: (whether a value is valid, the valid range as the error says it)
CHECKS = {
    "base_prob": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "lr": (lambda v: v > 0, "> 0"),
    "l2": (lambda v: v >= 0, ">= 0"),
    "mean_decay": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "prune_ratio": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "reweight_max": (lambda v: v >= 1.0, ">= 1"),
    "anneal": (lambda v: v is None or 0.0 <= v <= 1.0, "in [0, 1]"),
    "hard_fraction": (lambda v: 0.0 < v < 1.0, "in (0, 1)"),
    "hard_streak": (lambda v: v >= 1, ">= 1"),
    "plan_chunks": (lambda v: v >= 1, ">= 1"),
    "swiftlearn_keep": (lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
    "swiftlearn_interval": (lambda v: v >= 0, ">= 0"),
}

# the rules that read each rule's own options (rules.py)
RULE_OPTIONS = {
    "base_prob": ("paper", "skip-hard", "skip-noise"),
    "prune_ratio": ("infobatch",),
    "reweight": ("paper",),
    "reweight_max": ("paper",),
    "hard_fraction": ("skip-hard",),
    "hard_streak": ("skip-hard",),
    "noise_threshold": ("skip-noise",),
    "noise_no_language": ("skip-noise",),
    "noise_contrast_share": ("skip-noise",),
    "noise_post_process": ("skip-noise",),
    "swiftlearn_keep": ("swiftlearn",),
    "swiftlearn_interval": ("swiftlearn",),
}


def check_values(cfg):
    """Reject option values that make no sense, naming the flag."""
    problems = [f"--assistant-{name.replace('_', '-')} must be {valid}, got "
                f"{getattr(cfg, 'assistant_' + name)}"
                for name, (ok, valid) in CHECKS.items() if not ok(getattr(cfg, "assistant_" + name))]
    if not problems and anneal(cfg) > 0 and not cfg.assistant_off and not (cfg.max_epoch or 0) > 0:
        problems.append(f"--assistant-anneal {anneal(cfg)} anneals the last epochs of "
                        f"--max-epoch: set --max-epoch, or --assistant-anneal 0")
    if problems:
        fail("; ".join(problems))


def _flag(name):
    return "--assistant-" + name.replace("_", "-")


# the Assistant's own options, and the part of it each one changes (None: every part)
ASSISTANT_OPTIONS = {"features": "model", "lr": "model", "l2": "model", "mean": "mean",
                     "mean_decay": "mean", "init": None, "freeze": None}
# what a frozen Assistant (--assistant-freeze) ignores
FROZEN_IGNORES = ("lr", "l2", "mean", "mean_decay")
# what the random control ignores besides the Assistant (it keeps random pairs at the keep rates
# of --assistant-keep-rates in every epoch, the warm-up's too, and measures no noise)
RANDOM_IGNORES = ("base_prob", "warmup_epochs", "hard_fraction", "hard_streak",
                  *(n for n, rules in RULE_OPTIONS.items()
                    if rules in (("skip-noise",), ("swiftlearn",))))
TRAINED_FOR_FIGURES = ("the Assistant's model learns only for its own figures: the epoch "
                       "line's assistant_*, plans.jsonl, the data report")


def assistant_read(cfg):
    """(the parts of the Assistant the run's keep rule reads: "model" (its predictions and
    confidence), "mean" (the running mean loss), "pairs" (each pair's last loss or loss streak);
    what the rule reads, for the warnings)."""
    rule, scorer = cfg.assistant_rule, cfg.assistant_scorer
    if scorer == "random":
        return set(), "the random control (--assistant-scorer random) reads no Assistant"
    if rule in ("skip-noise", "swiftlearn"):
        return set(), f"--assistant-rule {rule} reads no Assistant"
    if rule == "skip-hard":
        return {"pairs"}, ("--assistant-rule skip-hard reads only the Assistant's loss streak of "
                           "each pair")
    if rule == "infobatch" and scorer == "last-loss":
        return {"mean", "pairs"}, ("infobatch with --assistant-scorer last-loss reads only the "
                                   "Assistant's running mean and each pair's last loss")
    return {"model", "mean", "pairs"}, None  # paper; infobatch with the Assistant's scores


def ignored(cfg, config_class, grouped_shuffling=False):
    """[(flag, why)]: the options set away from their defaults (those of *config_class*) that
    this run ignores."""
    defaults = {f.name[len("assistant_"):]: f.default for f in dataclasses.fields(config_class)
                if f.name.startswith("assistant_")}
    changed = [n for n, d in defaults.items() if getattr(cfg, "assistant_" + n) != d]
    if cfg.assistant_off:
        return [(_flag(n), "--assistant-off trains every pair without an Assistant")
                for n in changed if n != "off"]
    out = {_flag(n): f"--assistant-rule {cfg.assistant_rule} ignores it (read by "
                     f"{', '.join(RULE_OPTIONS[n])})"
           for n in changed if n in RULE_OPTIONS and cfg.assistant_rule not in RULE_OPTIONS[n]}
    if "scorer" in changed and cfg.assistant_rule in ("skip-hard", "skip-noise", "swiftlearn") and \
            cfg.assistant_scorer != "random":
        out[_flag("scorer")] = (f"--assistant-rule {cfg.assistant_rule} ignores the scorer "
                                f"{cfg.assistant_scorer} (read by paper and infobatch; the random "
                                f"control by every rule)")
    read, reader = assistant_read(cfg)
    for n in changed:
        part = ASSISTANT_OPTIONS.get(n, "")
        if (part is None and not read) or (part and part not in read):
            out.setdefault(_flag(n), f"{reader} ({TRAINED_FOR_FIGURES})")
        elif n in FROZEN_IGNORES and cfg.assistant_freeze:
            out.setdefault(_flag(n), "--assistant-freeze never updates the Assistant")
    if cfg.assistant_scorer == "random":
        for n in changed:
            if n in RANDOM_IGNORES:
                out.setdefault(_flag(n), "the random control (--assistant-scorer random) keeps "
                                         "random pairs at the rates of --assistant-keep-rates in "
                                         "every epoch (the warm-up's too) and measures no noise "
                                         "and no importance")
    out = list(out.items())
    if "reweight_max" in changed and cfg.assistant_rule == "paper" and not cfg.assistant_reweight:
        out.append((_flag("reweight_max"), "it caps the weights of --assistant-reweight, not set"))
    if "keep_rates" in changed and cfg.assistant_scorer != "random":
        out.append((_flag("keep_rates"), f"read by --assistant-scorer random only (the scorer is "
                                         f"{cfg.assistant_scorer})"))
    if grouped_shuffling and cfg.assistant_plan_chunks > 1:
        out.append(("--grouped-shuffling", "AutoAssist orders the batches of each chunk itself "
                                           "(--assistant-plan-chunks > 1)"))
    return out


def check_training(cfg, config_class, grouped_shuffling=False):
    """When fairseq-train starts: stop on a combination that would mislead; warn of every option
    the run ignores."""
    if cfg.assistant_freeze and not cfg.assistant_init and not cfg.assistant_off:
        uses = "plan every epoch with" if assistant_read(cfg)[0] else "report the figures of"
        fail(f"--assistant-freeze without --assistant-init would {uses} an Assistant that never "
             "learned (its running mean is never set: every pair is labelled easy): give "
             "--assistant-init CHECKPOINT, or leave --assistant-freeze out")
    for flag, why in ignored(cfg, config_class, grouped_shuffling):
        logger.warning("AutoAssist: %s does nothing in this run: %s", flag, why)
    if (cfg.assistant_rule == "infobatch" and cfg.assistant_anneal is None and not anneal(cfg)
            and not cfg.assistant_off):
        logger.warning("AutoAssist: infobatch anneals to every pair over the last 1/8 of "
                       "--max-epoch; without --max-epoch no epoch is annealed")
