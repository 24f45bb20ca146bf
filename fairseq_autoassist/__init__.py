"""AutoAssist (Zhang, Yu & Dhillon, NeurIPS 2019) for fairseq: load with
``--user-dir fairseq_autoassist`` (from the repository root) or ``--user-dir "$(fairseq-autoassist-dir)"``."""

import argparse
import collections
import typing

import omegaconf
import torch
from fairseq.distributed import utils as distributed_utils
from omegaconf import base, nodes

# torch >= 2.6 loads checkpoints with weights_only=True. fairseq checkpoints hold an
# argparse.Namespace ("args"), their only non-tensor global on disk; and in distributed training
# fairseq's rank 0 loads the checkpoint and broadcasts it pickled (its config now an OmegaConf
# DictConfig, its tensors sent apart and replaced by fairseq's placeholders), which the other
# ranks unpickle. Allow those classes so that fairseq-train resumes
# (on one or many ranks) and fairseq-generate/-interactive load checkpoints.
torch.serialization.add_safe_globals([
    argparse.Namespace, omegaconf.DictConfig, omegaconf.ListConfig, base.ContainerMetadata,
    base.Metadata, typing.Any, dict, list, int, float, str, bool, collections.defaultdict,
    *(getattr(nodes, n) for n in ("AnyNode", "StringNode", "IntegerNode", "FloatNode",
                                  "BooleanNode", "EnumNode", "BytesNode", "PathNode")
      if hasattr(nodes, n)),
    *([distributed_utils._TensorPlaceholder]
      if hasattr(distributed_utils, "_TensorPlaceholder") else []),
])

from . import criterion, schedule, task  # noqa: E402,F401  (register the task, criterion, schedule)

__version__ = "0.1.0"
