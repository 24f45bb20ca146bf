"""Fine-tuning: the checkpoint fairseq-train starts from (``--finetune-from-model`` or
``--restore-file``), checked against this run's dictionaries before fairseq loads its weights.

A parent trained on other dictionaries either stops fairseq with a size mismatch deep in
``load_state_dict`` or, worse, when the sizes happen to agree, loads embeddings whose rows mean
other pieces and fine-tunes a scrambled model without a word. So before the model's weights are
loaded, the parent's embedding sizes are compared with this run's dictionaries and, where the
parent's data directory (recorded in its config) is still there, its dictionaries entry by entry.
The parent may come from any task (stock ``--task translation`` included); the Assistant always
starts fresh, since fine-tuning resets the data loader, whose state carries it.
"""

import logging
import os

import torch
from fairseq import utils
from fairseq.data import Dictionary
from fairseq.data.data_utils import infer_language_pair

from .options import fail

logger = logging.getLogger(__name__)

EMBEDDINGS = {"source": "encoder.embed_tokens.weight", "target": "decoder.embed_tokens.weight"}


def parent_path(cfg):
    """The checkpoint fairseq-train will start from when it is not this run's own (fairseq's
    choice in ``checkpoint_utils.load_checkpoint``): ``--finetune-from-model`` while the run has no
    checkpoint_last.pt yet, or a ``--restore-file`` other than the default; else None."""
    own_last = os.path.join(cfg.save_dir, "checkpoint_last.pt")
    if cfg.finetune_from_model and not os.path.exists(own_last):
        return cfg.finetune_from_model
    if cfg.restore_file and cfg.restore_file != "checkpoint_last.pt":
        return cfg.restore_file
    return None


def _load(path):
    """The parent checkpoint's state, its tensors memory-mapped where the format allows (the
    classes fairseq pickles into checkpoints are allowed by the plugin's ``__init__``)."""
    if not os.path.isfile(path):
        fail(f"the checkpoint to start from, {path}, does not exist")
    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError:  # a checkpoint in torch's legacy format cannot be mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def _task_config(state):
    """The parent's task config (data, source_lang, target_lang) of a new or a legacy checkpoint."""
    if state.get("cfg") is not None:
        return state["cfg"]["task"]
    args = state.get("args")
    return vars(args) if args is not None else {}


def _first_difference(ours, theirs):
    """The first index at which two dictionaries' symbols differ (the shorter one's length when
    one extends the other)."""
    for i, (a, b) in enumerate(zip(ours.symbols, theirs.symbols)):
        if a != b:
            return i, f"{a!r} here, {b!r} in the parent's"
    return min(len(ours), len(theirs)), "one is longer"


def check_parent(path, data, langs, dictionaries):
    """Stop with a clear error when the checkpoint *path* was trained on other dictionaries than
    *dictionaries* ({"source": Dictionary, "target": Dictionary}) of data directory *data* with
    languages *langs* (source, target)."""
    state = _load(path)
    model = state.get("model", {})
    task = _task_config(state)
    advice = (" Prepare this data with the parent's vocabulary (data_prep's --vocab-from "
              "PARENT_DATA), or start from a checkpoint trained on these dictionaries.")
    for side, lang in zip(("source", "target"), langs):
        ours = dictionaries[side]
        weight = model.get(EMBEDDINGS[side])
        if weight is not None and weight.shape[0] != len(ours):
            fail(f"{path} was trained with a {side} dictionary of {weight.shape[0]} entries; this "
                 f"run's {os.path.join(data, f'dict.{lang}.txt')} has {len(ours)}." + advice)
    parent_data = task.get("data")
    parent_dir = utils.split_paths(str(parent_data))[0] if parent_data else None
    if not parent_dir or not os.path.isdir(parent_dir):
        logger.warning("%s: its data directory %s is not here: only the dictionaries' sizes were "
                       "checked against it", path, parent_dir)
        return
    parent_langs = (task.get("source_lang"), task.get("target_lang"))
    if None in parent_langs:  # inferred by fairseq from the directory, as it did for the parent
        parent_langs = infer_language_pair(parent_dir)
    for side, lang, parent_lang in zip(("source", "target"), langs, parent_langs):
        theirs_path = os.path.join(parent_dir, f"dict.{parent_lang}.txt")
        if not os.path.isfile(theirs_path):
            logger.warning("%s: the parent's dictionary %s is not here: only the dictionaries' "
                           "sizes were checked against it", path, theirs_path)
            return
        theirs = Dictionary.load(theirs_path)
        if theirs.symbols != dictionaries[side].symbols:
            index, how = _first_difference(dictionaries[side], theirs)
            fail(f"{path} was trained with the {side} dictionary {theirs_path}, which differs from "
                 f"this run's {os.path.join(data, f'dict.{lang}.txt')} (entry {index}: {how})."
                 + advice)
    logger.info("%s: trained on the same dictionaries as this run (%s)", path, parent_dir)
