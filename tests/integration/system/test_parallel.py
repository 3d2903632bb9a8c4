"""Worker processes that read for a job (``yikatong.parallel``), on both backends: they see
what the job's transaction sees committed, never its own uncommitted rows, and cannot write."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from yikatong import parallel
from yikatong.core import db
from yikatong.core.ids import make_resident_id
from yikatong.node import Node
from yikatong.registry import service as registry
from yikatong.registry.models import Resident


def _enrol(session: Session, n: int) -> int:
    return registry.enrol_resident(
        session,
        registry.ResidentInput(
            id_number=make_resident_id("370202", dt.date(1950, 1, 1), n),
            name=f"居民{n}",
            district_code="370202",
        ),
        actor="test",
    ).id


def count_from(session: Session, lowest: int) -> tuple[int, int]:
    """A part: how many residents a worker sees from id ``lowest`` on, and in which process."""
    seen = session.scalar(select(func.count()).where(Resident.id >= lowest))
    return int(seen or 0), os.getpid()


def delete_everyone(session: Session) -> None:
    """A part that tries to write."""
    session.execute(delete(Resident))


def test_workers_read_the_committed_state_the_job_keeps_still(node: Node) -> None:
    with node.transaction() as session:
        first = [_enrol(session, n) for n in range(1, 5)]
    with node.transaction() as session:
        _enrol(session, 5)  # the job's own row, not committed while the workers read
        assert parallel.available_workers(session, 2) == min(2, os.cpu_count() or 1)
        arguments = [(first[0],), (first[2],)]
        with parallel.run_parts(session, count_from, arguments, workers=2) as parts:
            results = parts.results()
    assert [seen for seen, _ in results] == [4, 2]
    assert all(pid != os.getpid() for _, pid in results)


def test_workers_do_not_see_what_others_commit_while_the_job_runs(node: Node) -> None:
    """A resident enrolled by another transaction while the workers start: on PostgreSQL it
    commits at once and the workers, reading the job's snapshot, do not see it; on SQLite it
    waits for the job's write lock. Either way the job's parts agree with the job."""
    with node.transaction() as session:
        first = _enrol(session, 1)
    enrolled = threading.Event()

    def enrol_meanwhile() -> None:
        with node.transaction() as other:
            _enrol(other, 2)
        enrolled.set()

    with node.transaction() as session:
        seen_by_job = session.scalar(select(func.count()).select_from(Resident))
        with parallel.run_parts(session, count_from, [(first,)], workers=1) as parts:
            meanwhile = threading.Thread(target=enrol_meanwhile)
            meanwhile.start()
            if node.engine.dialect.name == "postgresql":
                assert enrolled.wait(timeout=30)  # committed before the worker reads
            results = parts.results()
    meanwhile.join(timeout=60)
    assert enrolled.is_set()
    assert seen_by_job == 1 and [seen for seen, _ in results] == [1]


def test_a_worker_cannot_write_and_its_error_comes_back(node: Node) -> None:
    with node.transaction() as session:
        _enrol(session, 1)
    with node.transaction() as session:
        with (
            parallel.run_parts(session, delete_everyone, [()], workers=1) as parts,
            pytest.raises(DBAPIError, match=r"(?i)read.?only"),
        ):
            parts.results()
        assert session.scalar(select(func.count()).select_from(Resident)) == 1


def die(session: Session) -> None:
    """A part whose process ends without answering (killed, out of memory)."""
    os._exit(3)


def test_a_worker_that_dies_without_answering_is_reported_as_such(node: Node) -> None:
    with node.transaction() as session:
        _enrol(session, 1)
        with (
            parallel.run_parts(session, die, [()], workers=1) as parts,
            pytest.raises(parallel.WorkersFailed, match="without answering"),
        ):
            parts.results()


def test_a_database_in_memory_has_no_workers() -> None:
    engine = db.make_engine("sqlite:///:memory:")
    with Session(engine) as session:
        assert parallel.available_workers(session, 2) == 0
    engine.dispose()
