"""Asynchronous hand-over of the Boss's per-sentence losses to the Assistant (paper Sec. 3.3: Boss
and Assistant run concurrently, the Boss never waits).

The Boss's step only enqueues: on a GPU the ids, losses and token counts are packed into one
tensor, copied without blocking into pinned host memory, and a CUDA event is recorded; the
background thread waits on that event, never the Boss. :meth:`LossFeed.drain` is called at each
plan point (epoch boundary, checkpoint), so the Assistant's state depends only on the data and the
seed, not on timing. :meth:`LossFeed.call` queues other work (planning a chunk of an epoch) behind
the losses queued so far. An exception on the background thread is raised in the Boss's thread at its
next hand-over or drain; nothing hangs.
"""

import queue
import threading

import torch

from .ranks import unpack


class LossFeed:
    def __init__(self, assistant):
        self.assistant = assistant
        self._queue = queue.Queue()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="autoassist-feed", daemon=True)
        self._thread.start()

    def put(self, tables, ids, losses, ntokens):
        """Queue one batch: *ids*, per-sentence summed *losses* and target token counts."""
        packed = torch.stack([ids.to(torch.float64), losses.detach().to(torch.float64),
                              ntokens.to(torch.float64)])
        self._enqueue(self._learn, tables, packed)

    def put_ranks(self, tables, gathered):
        """Queue one step of every rank's batch (:meth:`ranks.Ranks.gather`), learned from in rank
        order."""
        self._enqueue(self._learn_ranks, tables, gathered)

    def _enqueue(self, learn, tables, packed):
        self._raise_error()
        event = None
        if packed.is_cuda:
            host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
            host.copy_(packed, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            packed = host
        self._queue.put((learn, (tables, packed, event)))

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the background thread once everything queued before it is done."""
        self._raise_error()
        self._queue.put((fn, args))

    def drain(self):
        """Wait until every queued batch has been learned from."""
        self._queue.join()
        self._raise_error()

    def check(self):
        """Raise the background thread's error, if any, without waiting."""
        self._raise_error()

    def _raise_error(self):
        if self._error is not None:
            raise RuntimeError("AutoAssist: the Assistant's background update failed") from self._error

    def _learn(self, tables, packed, event):
        if event is not None:
            event.synchronize()
        ids, losses, ntokens = packed.numpy()
        self.assistant.learn(tables, ids.astype("int64"), losses, ntokens)

    def _learn_ranks(self, tables, gathered, event):
        if event is not None:
            event.synchronize()
        for ids, losses, ntokens in unpack(gathered.numpy()):
            self.assistant.learn(tables, ids, losses, ntokens)

    def _run(self):
        while True:
            fn, args = self._queue.get()
            try:
                if self._error is None:
                    fn(*args)
            except BaseException as e:  # handed to the Boss's thread by _raise_error
                self._error = e
            finally:
                self._queue.task_done()
