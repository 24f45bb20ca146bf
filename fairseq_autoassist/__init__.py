"""AutoAssist (Zhang, Yu & Dhillon, NeurIPS 2019) for fairseq: load with
``--user-dir fairseq_autoassist`` (from the repository root) or ``--user-dir "$(fairseq-autoassist-dir)"``."""

import argparse

import torch

# torch >= 2.6 loads checkpoints with weights_only=True; fairseq checkpoints hold an
# argparse.Namespace ("args"), their only non-tensor global. Allow it so that fairseq-train resumes
# and fairseq-generate/-interactive load checkpoints.
torch.serialization.add_safe_globals([argparse.Namespace])

from . import criterion, task  # noqa: E402,F401  (register the task and criterion)

__version__ = "0.1.0"
