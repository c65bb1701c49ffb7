"""Where the trainer learns: in a child process of its worker (default) or in a thread of it.

The trainer (agents/train_models.py) learns every training example on one
:class:`~online_models.bundle.ModelBundle` and publishes snapshots of it. Learning is pure
Python and numeric CPU (River's learners, the champion's candidates, BG/NBD refits in SciPy),
and in a replay of history it is a large part of the work of the worker that runs the trainer.
In a thread of that worker it holds the interpreter lock that the worker's event loop needs, so
every event of the worker waits behind it.

``LIFELINE_TRAINER=process`` (the default): the bundle lives in a child process of the worker
(``multiprocessing``'s spawn start, one process, a ``concurrent.futures`` pool of one), so
learning runs beside the event loop on another core. The worker checks each training batch's
signature itself (streams/runtime/trust.py) and sends the child the opened payloads; the child
decodes and learns them in order and, when asked, serializes a snapshot and hands back its
bytes with the bundle's metrics. One call at a time: the agent awaits each, so the examples stay
in order. The child ignores SIGINT and SIGTERM (the worker shuts it down in order) and exits as
soon as the worker is gone, however it ended (a thread of the child waits on the worker's
sentinel). If the
child dies, the call raises ``BrokenProcessPool`` and the trainer agent stops with it; what was
learned since the last published snapshot is lost, as when the worker itself stops, and a
restarted trainer resumes from that snapshot. As with any spawned child, the worker's main
module is imported again in the child under ``__mp_main__`` (``python -m streams`` builds the
Faust app object there, and does not run it).

``LIFELINE_TRAINER=thread``: the bundle stays in the worker and learning runs in a thread
(``asyncio.to_thread``), as the agent tests do to watch the bundle.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from online_models.bundle import ModelBundle
from online_models.training import TrainingExample, decode_example


@dataclass(frozen=True)
class Learned:
    """What learning some payloads did: ``fresh`` examples learned, ``bad_batches`` payloads
    that are no batch, and the errors of the examples that did not decode."""

    fresh: int
    bad_batches: int
    bad_examples: tuple[str, ...]


@dataclass(frozen=True)
class Published:
    """A serialized snapshot and what the trainer logs and records about it."""

    data: bytes
    version: int
    published_at: float
    metrics: dict[str, Any]
    switches: tuple[dict[str, Any], ...]  # the champion's switches, oldest first
    labels: int  # churn labels the champion has judged


def examples_in(payload: bytes | None) -> tuple[list[TrainingExample] | None, list[str]]:
    """The examples of one opened training payload (``{"examples": [...]}``) and the errors of
    those that do not decode; ``None`` for a payload that is no batch.

    >>> examples_in(b'{"examples": [{"k": "interest", "a": {"shoes": 1.0}}, {"k": "x"}]}')
    ([Interests(affinity={'shoes': 1.0})], ["training example of unknown kind 'x'"])
    >>> examples_in(b"[1]"), examples_in(b"not json"), examples_in(None)
    ((None, []), (None, []), (None, []))
    """
    try:
        decoded = orjson.loads(payload) if payload is not None else None
    except orjson.JSONDecodeError:
        decoded = None
    batch = decoded.get("examples") if isinstance(decoded, dict) else None
    if not isinstance(batch, list):
        return None, []
    examples, errors = [], []
    for raw in batch:
        try:
            examples.append(decode_example(raw))
        except ValueError as exc:
            errors.append(str(exc))
    return examples, errors


def learn_payloads(bundle: ModelBundle, payloads: list[bytes | None]) -> Learned:
    """Learn every example of ``payloads`` in order on ``bundle``.

    >>> b = ModelBundle()
    >>> learn_payloads(b, [b'{"examples": [{"k": "interest", "a": {"shoes": 1.0}}]}', None])
    Learned(fresh=1, bad_batches=1, bad_examples=())
    """
    fresh, bad_batches, bad_examples = 0, 0, []
    for payload in payloads:
        examples, errors = examples_in(payload)
        if examples is None:
            bad_batches += 1
            continue
        bad_examples.extend(errors)
        for ex in examples:
            fresh += bundle.learn(ex)
    return Learned(fresh, bad_batches, tuple(bad_examples))


def publish(bundle: ModelBundle, max_bytes: int) -> Published:
    """Serialize a snapshot of ``bundle`` (:meth:`ModelBundle.snapshot`, which bumps its
    version; ``SnapshotTooLarge`` over ``max_bytes``) with its metrics.

    >>> p = publish(ModelBundle(), 10**7)
    >>> p.version, ModelBundle.from_snapshot(p.data).version, p.switches
    (1, 1, ())
    """
    data = bundle.snapshot(max_bytes=max_bytes)
    return Published(data, bundle.version, bundle.published_at, bundle.metrics(),
                     tuple(bundle.champion.history), bundle.champion.labels)


class Learner(Protocol):
    """The trainer's bundle, wherever it lives."""

    async def learn(self, payloads: list[bytes | None]) -> Learned: ...

    async def publish(self, max_bytes: int) -> Published: ...

    def close(self) -> None: ...


class InThread:
    """The bundle in this process; learning and snapshots in a thread (``to_thread``)."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    async def learn(self, payloads: list[bytes | None]) -> Learned:
        return await asyncio.to_thread(learn_payloads, self.bundle, payloads)

    async def publish(self, max_bytes: int) -> Published:
        return await asyncio.to_thread(publish, self.bundle, max_bytes)

    def close(self) -> None:
        pass


# The child's bundle (set by _adopt in the child process only).
_bundle: ModelBundle | None = None


def _adopt(bundle: ModelBundle) -> None:
    global _bundle
    # A terminal's Ctrl-C or a stop signal sent to the worker's whole process group reaches
    # the child too: the worker stops it in order (close), and it ends with the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:  # a worker killed outright leaves no child behind
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True,
                         name="lifeline-trainer-parent").start()
    _bundle = bundle


def _exit_with(sentinel: int) -> None:
    """Exit this process once the process behind ``sentinel`` has ended."""
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def _learn(payloads: list[bytes | None]) -> Learned:
    assert _bundle is not None
    return learn_payloads(_bundle, payloads)


def _publish(max_bytes: int) -> Published:
    assert _bundle is not None
    return publish(_bundle, max_bytes)


class InProcess:
    """The bundle in a child process (spawned, one); each call runs there, in order.

    The bundle is pickled into the child once; the worker's copy is not used afterwards.
    """

    def __init__(self, bundle: ModelBundle) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1,
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_adopt, initargs=(bundle,))

    async def learn(self, payloads: list[bytes | None]) -> Learned:
        return await asyncio.get_running_loop().run_in_executor(self._pool, _learn, payloads)

    async def publish(self, max_bytes: int) -> Published:
        return await asyncio.get_running_loop().run_in_executor(self._pool, _publish, max_bytes)

    def close(self) -> None:
        """Stop the child (a call still running is not waited for)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def learner(bundle: ModelBundle, where: str) -> Learner:
    """The trainer's learner for ``LIFELINE_TRAINER`` (``process`` or ``thread``).

    >>> type(learner(ModelBundle(), "thread")).__name__
    'InThread'
    """
    if where == "process":
        return InProcess(bundle)
    if where == "thread":
        return InThread(bundle)
    raise ValueError(f"the trainer learns in a process or a thread, not {where!r}")
