"""Training progress that scripts compare runs on: target tokens trained on (all ranks) and
training seconds, saved with the training batch iterator (the state fairseq-train restores), so
that a resumed run continues them.

The task adds each step's target tokens to fairseq's logging output; fairseq sums logging outputs
over the ranks before it hands them to ``task.reduce_metrics``, which adds them here: every rank
counts all ranks' tokens, with no collective of its own and no host synchronisation (on a GPU the
sum stays a tensor until a checkpoint is written). Seconds run from this process's first training
step, on top of those restored.
"""

import time

import torch

TOKENS_KEY = "trained_target_tokens"  # in the training steps' logging outputs


class TrainingProgress:
    def __init__(self):
        self._tokens = 0  # an int, or a tensor on the training device
        self._seconds_before = 0.0  # restored from a checkpoint
        self._start = None  # perf_counter() at this process's first training step

    def step_started(self):
        if self._start is None:
            self._start = time.perf_counter()

    def add_tokens(self, tokens):
        self._tokens = self._tokens + tokens

    def state_dict(self):
        tokens = self._tokens
        seconds = self._seconds_before
        if self._start is not None:
            seconds += time.perf_counter() - self._start
        return {"trained_target_tokens": int(tokens.item() if torch.is_tensor(tokens) else tokens),
                "train_seconds": float(seconds)}

    def load_state_dict(self, state):
        self._tokens = int(state["trained_target_tokens"])
        self._seconds_before = float(state["train_seconds"])
        self._start = None
