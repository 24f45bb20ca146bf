"""Plan records: what each epoch trained on, as JSON lines that scripts and tests read (the log
lines say the same for people); strict JSON (a value not known yet is null).

The first rank appends to ``DIR/plans.jsonl`` (``--assistant-plan-dir DIR``; by default the
checkpoint directory, none with ``--no-save``), one line per event:

* ``plan``: an epoch's plan as training starts it (fresh, or ``restored`` from a checkpoint):
  candidates, kept pairs and tokens, keep rate, floor, mean loss weight, batches, the chunks'
  batch budgets, and the Assistant's and the plan's checksums, equal on all ``ranks``;
* ``chunk``: chunk ``chunk`` of ``chunks`` (from 1) planned again during the epoch: ``when``
  (after which trained batch, all ranks; or at the batch a resumed epoch starts from), the pairs
  it kept of its ``pairs``, how many the rule alone keeps (``rule_kept``), decisions ``changed``
  since the epoch start, its batches, and the Assistant's and the plan's checksums after it,
  equal on all ranks;
* ``assistant``: the Assistant's accuracy, AUC, confidence and mean loss over the losses it saw
  in ``epoch`` (:meth:`assistant.Assistant.epoch_stats`), written when the next epoch is planned
  (a checkpoint holds those of its own epoch);
* ``complete``: every chunk of a plan made in this run is planned: the plan as trained (the
  ``plan`` fields without checksums and ``restored``). With ``--assistant-plan-dir`` it also writes
  ``DIR/epoch<N>.npz``: the kept pair ids, their loss weights and the dropped candidate ids.

A resumed run appends to the same file; the last ``complete`` line of an epoch is the plan that
was trained (:func:`read_plans`).
"""

import json
import math
import os

import numpy as np

PLAN_FIELDS = ("candidates", "kept_pairs", "keep_rate", "kept_tokens", "keep_floor",
               "weight_mean", "batches")


class PlanRecords:
    """Writes the records of one run to *directory* (created); *kept_ids*: the npz files too."""

    def __init__(self, directory, kept_ids=False):
        self.directory = directory
        self.kept_ids = kept_ids
        os.makedirs(directory, exist_ok=True)

    def assistant(self, epoch, stats):
        self._write("assistant", epoch, **{k: float(v) for k, v in stats.items()})

    def plan(self, plan, restored, assistant_checksum, plan_checksum, ranks):
        self._write("plan", plan.epoch, restored=bool(restored), **_summary(plan),
                    assistant_checksum=f"{assistant_checksum:08x}",
                    plan_checksum=f"{plan_checksum:08x}", ranks=int(ranks))

    def chunk(self, plan, k, when, kept, pairs, rule_kept, changed, batches, assistant_checksum,
              plan_checksum):
        self._write("chunk", plan.epoch, chunk=k + 1, chunks=len(plan.parts), when=when,
                    kept=int(kept), pairs=int(pairs), rule_kept=int(rule_kept),
                    changed=int(changed), batches=int(batches),
                    assistant_checksum=int(assistant_checksum), plan_checksum=int(plan_checksum))

    def complete(self, plan):
        if self.kept_ids:
            candidates = plan.candidates
            kept = np.sort(candidates[plan.keep[candidates]])
            dropped = np.sort(candidates[~plan.keep[candidates]])
            np.savez_compressed(os.path.join(self.directory, f"epoch{plan.epoch}.npz"),
                                kept=kept.astype(np.int64),
                                weight=plan.weight[kept].astype(np.float32),
                                dropped=dropped.astype(np.int64))
        self._write("complete", plan.epoch, **_summary(plan), checksum=int(plan.digest()))

    def _write(self, event, epoch, **fields):
        line = json.dumps(_strict({"event": event, "epoch": int(epoch), **fields}),
                          allow_nan=False)
        with open(os.path.join(self.directory, "plans.jsonl"), "a", encoding="utf-8") as f:
            f.write(line + "\n")


def _strict(value):
    """*value* with NaN and infinities as JSON's null (plans.jsonl is strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _summary(plan):
    stats = plan.stats()
    return {"chunks": len(plan.parts), "budgets": [int(b) for b in plan.budgets],
            **{k: (float(stats[k]) if isinstance(stats[k], float) else int(stats[k]))
               for k in PLAN_FIELDS}}


def read_records(directory, event=None):
    """The records of ``DIR/plans.jsonl`` in order (those of *event* only, if given)."""
    out = []
    with open(os.path.join(directory, "plans.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if event is None or r["event"] == event:
                    out.append(r)
    return out


def read_plans(directory):
    """{epoch: record} of the plans trained: the last ``complete`` record of each epoch."""
    return {r["epoch"]: r for r in read_records(directory, "complete")}


def read_kept(directory, epoch):
    """(kept pair ids, their loss weights, dropped candidate ids) of *epoch*'s plan."""
    with np.load(os.path.join(directory, f"epoch{epoch}.npz")) as z:
        return z["kept"], z["weight"], z["dropped"]
