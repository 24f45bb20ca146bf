"""Read a checkpoint of an ``autoassist_translation`` run and the binarized corpus it is reported
on, checked against each other (:class:`ReportError` says what does not fit)."""

import os
import pickle
from dataclasses import dataclass

import numpy as np


class ReportError(Exception):
    """Bad input (a file, a checkpoint that does not fit the data); the command prints it and exits
    with status 1."""


@dataclass
class Run:
    """What one checkpoint holds, with the corpus it is reported on."""

    cfg: object  # the run's fairseq config
    task: object  # its autoassist_translation task, on the report's data directory
    model: object  # the Boss, in eval mode
    assistant: object  # fairseq_autoassist.assistant.Assistant, as saved
    dataset: object  # the reported split (a LanguagePairDataset)
    tables: object  # its token tables (fairseq_autoassist.tokens.PairTables)
    is_train: bool  # the reported split is the split the run trained on
    epoch: int  # the epoch the checkpoint was saved in
    num_updates: int
    history: object = None  # fairseq_autoassist.history.LossHistory (--assistant-loss-history)
    noise_state: object = None  # the skip-noise rule's saved per-pair state (--assistant-rule skip-noise)


def load(data, path, subset=None):
    """The :class:`Run` of checkpoint *path* on data directory *data* (its *subset*, by default the
    split the run trained on)."""
    import fairseq_autoassist  # noqa: F401  (registers the task; lets torch load fairseq's configs)
    from fairseq import checkpoint_utils, tasks

    from fairseq_autoassist.autoassist import build_assistant, saved_assistant
    from fairseq_autoassist.corpus import shard_tables
    from fairseq_autoassist.history import LossHistory
    from fairseq_autoassist.options import AutoAssistError, language_pair
    from fairseq_autoassist.tokens import PairTables

    if not os.path.isfile(path):
        raise ReportError(f"--path {path}: no such file")
    try:
        state = checkpoint_utils.load_checkpoint_to_cpu(path)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, KeyError) as e:
        raise ReportError(f"--path {path}: not a fairseq checkpoint ({type(e).__name__}: {e})") from e
    cfg = state.get("cfg")
    name = None if cfg is None else cfg.task.get("_name")
    if name != "autoassist_translation":
        raise ReportError(f"--path {path}: a checkpoint of --task {name}, not of an "
                          "autoassist_translation run: it holds no Assistant")
    if cfg.task.get("assistant_off"):
        raise ReportError(f"--path {path}: a checkpoint of an --assistant-off run: it holds no "
                          "Assistant")
    try:
        assistant_state = saved_assistant(state)
    except ValueError as e:
        raise ReportError(f"--path {path}: it holds no Assistant ({e})") from e

    cfg.task.data = str(data)
    try:  # the languages the run gave, or those fairseq inferred from its data directory
        cfg.task.source_lang, cfg.task.target_lang = language_pair(
            data, cfg.task.source_lang, cfg.task.target_lang)
    except AutoAssistError as e:
        raise ReportError(f"{e}; report a checkpoint on the data directory it was trained "
                          "on") from e
    task = tasks.setup_task(cfg.task)
    sizes = [len(w) for w in assistant_state["w"]]
    dicts = [len(task.src_dict), len(task.tgt_dict)]
    if sizes != dicts:
        raise ReportError(
            f"the dictionaries of {data} ({dicts[0]} and {dicts[1]} tokens) are not those of the "
            f"run of {path} (its Assistant has {sizes[0]} and {sizes[1]}): report a checkpoint on "
            "the data directory it was trained on")
    model = task.build_model(cfg.model)
    try:
        model.load_state_dict(state["model"], strict=True, model_cfg=cfg.model)
    except RuntimeError as e:
        raise ReportError(f"--path {path}: its Boss does not fit the model the run's config "
                          f"builds on {data} ({str(e).splitlines()[0]})") from e
    model.eval()

    train_subset = cfg.dataset.train_subset
    subset = subset or train_subset
    datasets = {}
    for split in {subset, train_subset}:
        try:
            task.load_dataset(split, combine=False, epoch=1)
        except FileNotFoundError as e:
            raise ReportError(f"{data}: no split {split!r} ({e})") from e
        datasets[split] = task.dataset(split)
    try:
        train_tables = PairTables(datasets[train_subset])
        tables = train_tables if subset == train_subset else PairTables(datasets[subset])
    except ValueError as e:
        raise ReportError(f"{data}: {e}") from e
    # the Assistant's features (IDF, mean lengths) are those of the training split (of every
    # shard of DATA_A:DATA_B:...), as in training
    assistant = build_assistant(cfg.task, train_tables, dicts[0], dicts[1], frozen=True,
                                corpus=shard_tables(cfg.task, train_tables, task.src_dict,
                                                    task.tgt_dict))
    try:
        assistant.load_state_dict(assistant_state)
    except ValueError as e:
        raise ReportError(f"--path {path}: {e}") from e
    history = None
    history_state = saved_assistant(state, "history")
    if history_state is not None and subset == train_subset:
        history = LossHistory(len(train_tables))
        try:
            history.load_state_dict(history_state)
        except ValueError as e:
            raise ReportError(f"--path {path}: {e} (the run trained on another corpus)") from e
    optimizer_history = state.get("optimizer_history") or [{}]
    return Run(cfg=cfg, task=task, model=model, assistant=assistant, dataset=datasets[subset],
               tables=tables, is_train=subset == train_subset, epoch=int(assistant.epoch),
               num_updates=int(optimizer_history[-1].get("num_updates", 0)), history=history,
               noise_state=saved_assistant(state, "noise"))


def valid_dataset(run):
    """The run's (first) valid split on the report's data directory, or None where there is none
    or it is the reported split."""
    split = run.cfg.dataset.valid_subset.split(",")[0]
    if not run.is_train:
        return None
    try:
        run.task.load_dataset(split, combine=False, epoch=1)
    except FileNotFoundError:
        return None
    return run.task.dataset(split)


def keep_probability(run):
    """Each pair's probability of being kept in the next pruning epoch, by the run's keep rule
    with the saved Assistant (warm-up and annealing aside); NaN for a split it did not train on
    and under skip-noise."""
    from fairseq_autoassist.autoassist import keep_rule

    t = run.cfg.task
    if not run.is_train or t.assistant_rule == "skip-noise":  # its noise state is not rebuilt
        return np.full(len(run.tables), np.nan)
    # a random-control run's rule as AutoAssist would apply it; no annealing epoch
    rule = keep_rule(t, run.assistant, run.tables, run.cfg.common.seed, anneal=0.0,
                     scorer="assistant" if t.assistant_scorer == "random" else t.assistant_scorer)
    epoch = max(run.epoch + 1, t.assistant_warmup_epochs + 1)
    return rule.decide(epoch, np.arange(len(run.tables)))[0]


def plan_records(path, plans_dir=None):
    """The run's plan records (``plans.jsonl``): in *plans_dir*, else beside the checkpoint; []
    when there are none."""
    from fairseq_autoassist.records import read_records

    directory = plans_dir or os.path.dirname(os.path.abspath(path))
    if not os.path.isfile(os.path.join(directory, "plans.jsonl")):
        if plans_dir:
            raise ReportError(f"--plans {plans_dir}: no plans.jsonl")
        return []
    return read_records(directory)
