"""Plan records (``--assistant-plan-dir DIR``): what each epoch trained on, for scripts and tests.

When an epoch's plan is complete (every chunk planned), the first rank appends one JSON line to
``DIR/plans.jsonl`` (the plan's statistics, its batch budgets and checksum) and writes
``DIR/epoch<N>.npz`` with the ids of the kept pairs, their loss weights and the ids of the
candidates it dropped. A resumed run whose interrupted plan is restored whole writes nothing for
that epoch again; one that plans (part of) it anew appends a new line, and the last line of an
epoch is the plan that was trained (:func:`read_plans`).
"""

import json
import os

import numpy as np


class PlanRecords:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def write(self, plan):
        stats = plan.stats()
        candidates = plan.candidates
        kept = np.sort(candidates[plan.keep[candidates]])
        dropped = np.sort(candidates[~plan.keep[candidates]])
        np.savez_compressed(os.path.join(self.directory, f"epoch{plan.epoch}.npz"),
                            kept=kept.astype(np.int64), weight=plan.weight[kept].astype(np.float32),
                            dropped=dropped.astype(np.int64))
        record = {"epoch": int(plan.epoch), "chunks": len(plan.parts),
                  "budgets": [int(b) for b in plan.budgets], "checksum": int(plan.digest()),
                  **{k: (float(v) if isinstance(v, float) else int(v)) for k, v in stats.items()}}
        with open(os.path.join(self.directory, "plans.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_plans(directory):
    """{epoch: record} of ``DIR/plans.jsonl``, the last record of each epoch."""
    out = {}
    with open(os.path.join(directory, "plans.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                out[r["epoch"]] = r
    return out


def read_kept(directory, epoch):
    """(kept pair ids, their loss weights, dropped candidate ids) of *epoch*'s plan."""
    with np.load(os.path.join(directory, f"epoch{epoch}.npz")) as z:
        return z["kept"], z["weight"], z["dropped"]
