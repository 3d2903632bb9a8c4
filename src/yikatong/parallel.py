"""Reading work split over worker processes, for the few jobs one core cannot carry alone
(a pension batch's bank file: two million lines read, decrypted and formatted).

A job starts its workers from inside its own transaction and waits for them before it
commits. Each worker opens this node read-only in a process of its own (started fresh, not
forked: the server's threads and open connections stay behind) and runs one part of the job
in a read transaction:

- on SQLite it reads the last committed state, which the job's transaction keeps still, since
  it holds the database's write lock until the workers are done;
- on PostgreSQL it reads the very snapshot of the job's transaction (``pg_export_snapshot``).

Neither backend shows a worker what the job's transaction itself wrote and has not committed:
the job checks what the parts add up to against what it sees (counts and sums) before it
trusts them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.core.settings import Settings
from yikatong.node import Node

__all__ = ["Parts", "WorkersFailed", "available_workers", "run_parts"]

R = TypeVar("R")

_worker_node: Node | None = None


def available_workers(session: Session, wanted: int) -> int:
    """How many worker processes a job of this session may start: up to ``wanted`` and the
    machine's cores; none where the database lives in this process's memory only, nor inside
    a savepoint on PostgreSQL (a snapshot is shared from the transaction itself)."""
    url = session.get_bind().engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return 0
    if url.get_backend_name() == "postgresql" and session.in_nested_transaction():
        return 0
    return max(0, min(wanted, os.cpu_count() or 1))


class WorkersFailed(RuntimeError):
    """The worker processes could not be started, or one ended without answering (killed, out
    of memory): nothing a part decided, so the job may do the work in its own process."""


class Parts:
    """The pending results of a job's parts, in the order the parts were given."""

    def __init__(self, futures: list[Future[Any]]) -> None:
        self._futures = futures

    def results(self) -> list[Any]:
        """Every part's result. A part's error is raised here as the worker raised it; a worker
        that could not start or did not answer raises ``WorkersFailed``."""
        try:
            return [future.result() for future in self._futures]
        except BrokenProcessPool as error:
            raise WorkersFailed(f"a worker process ended without answering: {error}") from error


@contextmanager
def run_parts(
    session: Session,
    part: Callable[..., R],
    arguments: Sequence[tuple[Any, ...]],
    *,
    workers: int,
) -> Iterator[Parts]:
    """Start ``part(session, *args)`` for each of ``arguments`` in ``workers`` processes, each
    in a read transaction of the state ``session`` sees committed; the caller does its own
    work meanwhile and collects ``Parts.results()`` inside the block. ``part`` is a module-level
    function (it is sent to the workers by name) and its result must pickle.

    Leaving the block waits for every worker to end.
    """
    if workers < 1:
        raise ValueError("run_parts needs at least one worker")
    snapshot = _snapshot_of(session)
    settings = current_node.current().settings
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(arguments)) or 1,
        mp_context=context,
        initializer=_open_worker,
        initargs=(settings,),
    ) as pool:
        try:
            futures = [pool.submit(_run_part, part, snapshot, args) for args in arguments]
        except (OSError, BrokenProcessPool) as error:  # no process could be started
            raise WorkersFailed(f"no worker process could be started: {error}") from error
        try:
            yield Parts(futures)
        finally:
            for future in futures:
                future.cancel()


def _snapshot_of(session: Session) -> str | None:
    """The transaction's snapshot for the workers to share (PostgreSQL); ``None`` on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return str(session.execute(text("SELECT pg_export_snapshot()")).scalar_one())


def _open_worker(settings: Settings) -> None:
    global _worker_node
    _worker_node = Node.open(settings, read_only=True)
    current_node.set_current(_worker_node)


def _run_part(part: Callable[..., R], snapshot: str | None, args: tuple[Any, ...]) -> R:
    assert _worker_node is not None, "a worker runs parts after _open_worker"
    with _worker_node.sessions() as session, session.begin():
        if snapshot is not None:
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            session.execute(text(f"SET TRANSACTION SNAPSHOT '{_quoted(snapshot)}'"))
        return part(session, *args)


def _quoted(snapshot: str) -> str:
    """A snapshot id as PostgreSQL hands it out (hex digits and dashes), never anything else:
    ``SET TRANSACTION SNAPSHOT`` takes no bind parameter."""
    if not snapshot or any(c not in "0123456789ABCDEFabcdef-" for c in snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    return snapshot
