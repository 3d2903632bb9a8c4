"""SQLite writers of one process queue for the database (``core.db``): every transaction gets
its turn, none is lost or refused as "database is locked", and the turn is handed back however
the transaction ends."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from yikatong.core import db


def _counter_engine(tmp_path: Path) -> Engine:
    engine = db.make_engine(f"sqlite:///{tmp_path}/writers.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (1, 0)"))
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return _counter_engine(tmp_path)


def _lock_of(engine: Engine) -> threading.Lock:
    return db._write_lock(str(engine.url.database))


def test_concurrent_read_modify_write_transactions_lose_no_update(engine: Engine) -> None:
    errors: list[BaseException] = []

    def add(times: int) -> None:
        try:
            for _ in range(times):
                with engine.begin() as connection:
                    n = connection.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
                    connection.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
        except BaseException as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(25,)) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM counter")).scalar_one() == 12 * 25
    assert not _lock_of(engine).locked()


def test_the_turn_is_handed_back_after_commit_rollback_and_a_lost_connection(
    engine: Engine,
) -> None:
    lock = _lock_of(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE counter SET n = 1"))
        assert lock.locked()
    assert not lock.locked()

    with pytest.raises(ZeroDivisionError), engine.begin() as connection:
        connection.execute(text("UPDATE counter SET n = 2"))
        1 / 0  # noqa: B018
    assert not lock.locked()

    connection = engine.connect()
    connection.begin()
    connection.execute(text("UPDATE counter SET n = 3"))
    assert lock.locked()
    connection.invalidate()  # the DBAPI connection is closed without a commit
    assert not lock.locked()
    with engine.connect() as check:
        assert check.execute(text("SELECT n FROM counter")).scalar_one() == 1


def test_engines_on_one_file_share_the_queue_and_memory_databases_do_not(
    engine: Engine, tmp_path: Path
) -> None:
    other = db.make_engine(f"sqlite:///{tmp_path}/../{tmp_path.name}/writers.db")
    assert _lock_of(other) is _lock_of(engine)
    with other.begin() as connection:
        connection.execute(text("UPDATE counter SET n = 5"))
    assert db._write_lock(":memory:") is not db._write_lock(":memory:")


def _in_the_file_itself(path: str) -> int | None:
    """The counter as the database file holds it, without its write-ahead log (``None`` while
    the table itself is still only in the log, or while the checkpointer is half-way through
    copying pages: an immutable reader takes no lock, so it may see a torn file)."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(reader.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0])
    except sqlite3.DatabaseError:
        return None
    finally:
        reader.close()


def test_commits_leave_the_log_to_a_background_checkpoint(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No commit copies the log into the database file itself (SQLite's own checkpoint is off
    on every writing connection); each one nudges the checkpointer's thread, which copies it.
    The thread ends when idle and comes back with the next commit; a transaction that changed
    nothing does not bring it back."""
    monkeypatch.setattr(db._Checkpointer, "IDLE_S", 0.2)
    monkeypatch.setattr(db._Checkpointer, "GAP_S", 0.05)
    path = str(engine.url.database)
    checkpointer = db._checkpointer(path)
    assert checkpointer is not None
    for n in (7, 8):
        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
            connection.execute(
                text("INSERT INTO counter VALUES (:a, 0), (:b, 0)"), {"a": 10 * n, "b": 10 * n + 1}
            )
            connection.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n})
        assert checkpointer.thread is not None
        deadline = time.monotonic() + 20
        seen = _in_the_file_itself(path)
        while seen != n and time.monotonic() < deadline:
            time.sleep(0.05)
            seen = _in_the_file_itself(path)
        assert seen == n
        while checkpointer.thread is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.thread is None  # idle, gone; the next commit brings one back
    with engine.begin() as connection:
        connection.execute(text("SELECT n FROM counter")).all()
    assert checkpointer.thread is None
    assert db._checkpointer(":memory:") is None


def test_a_bulk_jobs_log_is_cut_back_once_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write-ahead log of a bulk transaction is as large as the transaction; once the
    checkpointer has copied it and the next writer starts the log over, the file is cut back
    to ``_WAL_KEEP_BYTES`` instead of keeping its largest size for good."""
    monkeypatch.setattr(db, "_WAL_KEEP_BYTES", 64 * 1024)
    monkeypatch.setattr(db._Checkpointer, "IDLE_S", 0.2)
    path = tmp_path / "bulk.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE line (id INTEGER PRIMARY KEY, body TEXT)"))
        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_size_limit").scalar_one() == 65536
            connection.execute(
                text("INSERT INTO line (body) VALUES (:body)"),
                [{"body": f"{n:06d}" * 200} for n in range(2_000)],  # ~2.4 MB of log
            )
        wal = Path(f"{path}-wal")
        grown = wal.stat().st_size
        assert grown > 2 * 1024 * 1024
        checkpointer = db._checkpointer(str(path))
        assert checkpointer is not None
        deadline = time.monotonic() + 20
        while checkpointer.thread is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        with engine.begin() as connection:  # the next writer starts the copied log over
            connection.execute(text("INSERT INTO line (body) VALUES ('after')"))
        assert wal.stat().st_size <= 64 * 1024 < grown
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM line").scalar_one() == 2_001
    finally:
        engine.dispose()


def test_the_log_starts_over_under_a_steady_stream_of_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that holds no lock never copies the log to its end while commits keep
    coming (the writers add to it while it copies), and only a log copied to its end starts
    over. Once the log is long, the checkpointer copies the rest holding the write lock, so the
    log file stays a few cycles long instead of growing with every commit."""
    monkeypatch.setattr(db._Checkpointer, "IDLE_S", 0.5)
    monkeypatch.setattr(db._Checkpointer, "GAP_S", 0.01)
    monkeypatch.setattr(db._Checkpointer, "RESTART_PAGES", 20)
    # The engine's first commit starts the checkpointer's thread: with the short gap already
    # set, or its first pause is the default half second, longer than all 600 commits take.
    engine = _counter_engine(tmp_path)
    path = str(engine.url.database)
    threads, each = 4, 150  # a server's request threads

    def write() -> None:
        for n in range(each):
            with engine.begin() as connection:
                connection.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n})

    writers = [threading.Thread(target=write) for _ in range(threads)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    with engine.connect() as connection:
        page = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
    frames_on_disk = Path(f"{path}-wal").stat().st_size // (page + 24)
    # Without the locked copy the log kept about a frame per commit (500–560 of 600 here).
    assert frames_on_disk < threads * each // 3
