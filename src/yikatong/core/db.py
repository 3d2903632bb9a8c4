"""Database plumbing shared by every domain: the declarative base, engines and sessions.

The same code runs on SQLite (embedded default, WAL) and PostgreSQL (production).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Engine,
    Index,
    MetaData,
    TypeDecorator,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def index_where_set(table: str, column: str, *, unique: bool = False) -> Index:
    """An index on ``column`` holding only the rows where it is set (a partial index): a
    mostly-empty column costs an ordinary row no index entry."""
    condition = text(f"{column} IS NOT NULL")
    return Index(
        f"{'uq' if unique else 'ix'}_{table}_{column}",
        column,
        unique=unique,
        sqlite_where=condition,
        postgresql_where=condition,
    )


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite: the naive UTC time straight to the text the dialect's DATETIME stores,
        # without the dialect's own formatting step (a day of taps binds a million).
        def process(value: dt.datetime | None) -> str | None:
            naive = self.process_bind_param(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
_WRITE_WAIT_S = 30.0


def _file_key(path: str) -> str | None:
    """One name per database file, however the URL spells its path; ``None`` in memory."""
    if not path or path == ":memory:":
        return None
    return str(Path(path).resolve())


def _write_lock(path: str) -> threading.Lock:
    """The lock of one SQLite database file, shared by every engine of this process."""
    key = _file_key(path)
    if key is None:
        return threading.Lock()
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


class _Checkpointer:
    """Copies a database file's write-ahead log back into the file (a WAL checkpoint) in a
    thread of its own, never inside a commit.

    Left to itself, SQLite checkpoints in whichever commit takes the log past 1,000 pages: that
    commit writes a few megabytes into the database file at random places and flushes them
    while its caller waits, and every transaction queued behind it waits too. After a bulk
    transaction (a pension batch of 2M lines) it is a gigabyte written a second time. Commits
    now return once their own log is on disk; each one nudges this thread, which checkpoints at
    most every ``GAP_S`` seconds while there are commits. ``benchmarks/commits.py`` measures
    both ways in one run: at 300 small transactions/s on a 3M-row file, p99 3.99 → 1.88 ms and
    p99.9 142.8 → 4.9 ms.

    Checkpoints are PASSIVE: they take no lock a reader or writer waits for and copy what no
    open read transaction still needs. Only a log copied to its end is started over (by the next
    writer), and under a steady stream of commits a checkpoint never gets there on its own: what
    it copies, the writers have already added to. So once the log is ``RESTART_PAGES`` long,
    the thread copies the little that came in meanwhile once more while holding this process's
    write lock; the next writer then starts the log over (SQLite's own checkpoint held the lock
    for the whole copy). A lock is not fair: writers committing back to back could take it
    again and again before the thread's turn came (a test saw the log reach 584 frames under
    load). While the thread wants the lock, writers that have not yet queued for it wait
    (``writers_may_begin``), so it gets the lock after the transactions already queued.

    The thread ends after a few idle seconds and comes back with the next commit, so a process
    with many databases (the test suite) keeps no thread per file. A process that ends first
    leaves its log to the next one: the last connection to close checkpoints, and the log is
    durable either way.
    """

    IDLE_S = 5.0
    GAP_S = 0.5
    RESTART_PAGES = 1_000  # SQLite's own checkpoint comes at this length of log

    def __init__(self, path: str, lock: threading.Lock) -> None:
        self.path = path
        self.lock = lock
        self.wanted = threading.Event()
        self.writers_may_begin = threading.Event()
        self.writers_may_begin.set()
        self.guard = threading.Lock()
        self.thread: threading.Thread | None = None

    def nudge(self) -> None:
        self.wanted.set()
        with self.guard:
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name=f"wal-checkpoint {Path(self.path).name}", daemon=True
                )
                self.thread.start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                if not self.wanted.wait(self.IDLE_S):
                    with self.guard:
                        if not self.wanted.is_set():
                            self.thread = None
                            return
                self.wanted.clear()
                if connection is None:
                    connection = sqlite3.connect(self.path, timeout=_WRITE_WAIT_S)
                _, log, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                # (Waiting, if need be, for a bulk transaction that holds the lock to end.)
                if log >= self.RESTART_PAGES:
                    self._copy_the_rest_locked(connection)
                time.sleep(self.GAP_S)  # the commits of the next moment wait for one checkpoint
        except sqlite3.Error:
            # A database deleted or closed under us: the next commit's nudge starts a thread
            # again, and the last connection to close checkpoints. The log is durable.
            with self.guard:
                self.thread = None
        finally:
            if connection is not None:
                connection.close()

    def _copy_the_rest_locked(self, connection: sqlite3.Connection) -> None:
        """Copy what came into the log since, holding the write lock: the next writer starts
        the log over. New writers wait meanwhile, so that the lock comes to this thread."""
        self.writers_may_begin.clear()
        try:
            if self.lock.acquire(timeout=_WRITE_WAIT_S):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    self.lock.release()
        finally:
            self.writers_may_begin.set()


_CHECKPOINTERS: dict[str, _Checkpointer] = {}
_WAL_KEEP_BYTES = 64 * 1024 * 1024  # the log file kept on disk once it starts over


def _checkpointer(path: str) -> _Checkpointer | None:
    """The background checkpointer of one database file, shared by this process's engines."""
    key = _file_key(path)
    if key is None:
        return None
    lock = _write_lock(key)
    with _WRITE_LOCKS_GUARD:
        return _CHECKPOINTERS.setdefault(key, _Checkpointer(key, lock))


def _queued_writers(
    lock: threading.Lock, checkpointer: _Checkpointer | None = None
) -> type[sqlite3.Connection]:
    """A ``sqlite3.Connection`` whose transactions take ``lock`` before ``BEGIN IMMEDIATE`` and
    give it back once committed or rolled back.

    SQLite lets one writer in at a time. Left to itself, a connection that finds the database
    locked sleeps and retries with growing pauses (up to 100 ms each), so under load the lock
    lies free while the waiters sleep: at 100 requests/s the server answered in seconds. Within
    one process the waiters queue on this lock instead and the next one starts the moment the
    previous transaction ends. Other processes (a CLI job beside the server) still meet the
    busy timeout.
    """

    class Connection(sqlite3.Connection):
        writing = False
        changes_before = 0

        def begin_writing(self) -> None:
            if checkpointer is not None:
                # The checkpointer's turn for the lock comes first (a moment, see there).
                checkpointer.writers_may_begin.wait(_WRITE_WAIT_S)
            if not lock.acquire(timeout=_WRITE_WAIT_S):
                raise sqlite3.OperationalError(
                    f"database is locked: no transaction of this process let go of it within "
                    f"{_WRITE_WAIT_S:.0f} s"
                )
            self.writing = True
            self.changes_before = self.total_changes

        def done_writing(self) -> None:
            if self.writing:
                self.writing = False
                lock.release()

        def commit(self) -> None:
            changed = self.writing and self.total_changes != self.changes_before
            try:
                super().commit()
            finally:
                self.done_writing()
            if changed and checkpointer is not None:
                checkpointer.nudge()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.done_writing()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.done_writing()

    return Connection


def json_text(value: Any) -> str:
    """What a JSON column stores of ``value``: compact JSON text, UTF-8 characters as they are.

    orjson writes it several times faster than the standard library, which matters where a
    million rows carry JSON (a day of taps); what orjson refuses (integer keys, integers past 64
    bits, values it is told not to guess at) the standard library writes or refuses as before.
    """
    try:
        return orjson.dumps(value, default=_refuse, option=_JSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Dates, dataclasses and subclasses are not guessed at: the standard library decides (and
# refuses what it refused before).
_JSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def make_engine(
    url: str, *, sqlite_synchronous: str = "FULL", read_only: bool = False, **kwargs: Any
) -> Engine:
    """An engine with the house settings: SQLite in WAL mode with foreign keys on.

    ``read_only`` is for a worker process that reads what another process's transaction keeps
    still (see ``yikatong.parallel``): on SQLite its transactions begin without the write lock
    and refuse to write (``query_only``); the caller chooses its snapshot on PostgreSQL.

    SQLite commits with ``synchronous=FULL`` unless told otherwise: the write-ahead log is
    flushed to disk before a commit returns, so an acknowledged payment survives a power loss,
    not only a crash of the process (``NORMAL`` keeps only the latter, for more commits/s).
    """
    if sqlite_synchronous not in ("FULL", "NORMAL"):
        raise ValueError("sqlite_synchronous is FULL or NORMAL")
    kwargs.setdefault("json_serializer", json_text)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": _WRITE_WAIT_S}
        checkpointer = None if read_only else _checkpointer(path)
        if not read_only:
            connect_args["factory"] = _queued_writers(_write_lock(path), checkpointer)
        kwargs.setdefault("connect_args", connect_args)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so SAVEPOINT and BEGIN IMMEDIATE work.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # 64 MiB of page cache: index pages of a city-sized register stay in memory.
            cur.execute("PRAGMA cache_size=-65536")
            # A bulk job's log (a month of ride files grows it past a gigabyte) is cut back to
            # this once it has been copied into the database and starts over.
            cur.execute(f"PRAGMA journal_size_limit={_WAL_KEEP_BYTES}")
            if checkpointer is not None:
                cur.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's thread does it
            if read_only:
                cur.execute("PRAGMA query_only=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if read_only:
                conn.exec_driver_sql("BEGIN")  # a read snapshot from the first statement on
                return
            # IMMEDIATE takes the write lock up front: no deadlock on read-then-write upgrades.
            raw = conn.connection.dbapi_connection
            queued = getattr(raw, "begin_writing", None)
            if queued is not None:
                queued()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if queued is not None:
                    raw.done_writing()
                raise

        return engine
    # A worker's read transaction begins by choosing its snapshot: no ping may come first.
    kwargs.setdefault("pool_pre_ping", not read_only)
    return create_engine(url, **kwargs)


def bind_converter(session: Session, column: ColumnElement[Any]) -> Callable[[Any], Any]:
    """``column``'s own conversion of a Python value into what the session's database stores
    (the identity where there is none), for rows written past SQLAlchemy by :func:`copy_rows`.

    It is the dialect's implementation of the type that is asked: SQLite stores a timestamp as
    text with its microseconds, and a row written another way would compare wrongly with the
    rest at the same second."""
    dialect = session.get_bind().dialect
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor or _unchanged


def _unchanged(value: Any) -> Any:
    return value


_IN_CHUNK = 900  # values per ``IN`` list where a backend takes no list as one parameter


def one_of(session: Session, column: Any, values: list[Any]) -> Iterator[ColumnElement[bool]]:
    """``column IN values`` in as few statements as the driver allows.

    PostgreSQL takes the whole list as one array parameter (``= ANY(:values)``), SQLite as one
    JSON text: one short statement instead of one per 900 values, compiled and parsed once.
    """
    if not values:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        yield column == any_(bindparam("values", value=values, type_=ARRAY(column.type)))
        return
    if dialect == "sqlite":
        # SQLite: the list as one JSON text parameter, unpacked by json_each.
        each = func.json_each(bindparam("values", value=json_text(values))).table_valued("value")
        yield column.in_(select(each.c.value))
        return
    for start in range(0, len(values), _IN_CHUNK):
        yield column.in_(values[start : start + _IN_CHUNK])


def copy_rows(
    session: Session, table: str, columns: Sequence[str], values: Iterable[Sequence[Any]]
) -> None:
    """Insert plain rows, already in the database's own form (:func:`bind_converter`), in the
    fewest round trips the backend allows: PostgreSQL by ``COPY``, SQLite by one
    ``executemany``. A violated constraint raises the driver's ``IntegrityError``."""
    raw: Any = session.connection().connection.driver_connection
    names = ", ".join(columns)
    if session.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        return
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)


def execute_rows(session: Session, sql: str, values: Sequence[Sequence[Any]]) -> None:
    """Run one statement (``?`` placeholders, and no other ``?`` in it) for each row of plain
    values, already in the database's own form (:func:`bind_converter`), in one
    ``executemany`` of the driver: for statements ``copy_rows`` cannot be, such as an upsert of
    many rows."""
    if not values:
        return
    raw: Any = session.connection().connection.driver_connection
    if session.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), values)
        return
    raw.executemany(sql, values)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def create_schema(engine: Engine) -> None:
    """Create every table (tests and throw-away databases; deployments use Alembic)."""
    import_all_models()
    Base.metadata.create_all(engine)


def import_all_models() -> None:
    """Import every domain's models so that ``Base.metadata`` is complete."""
    import importlib
    import pkgutil

    import yikatong

    importlib.import_module("yikatong.core.outbox")  # the transactional outbox lives in core
    for module in pkgutil.iter_modules(yikatong.__path__):
        if not module.ispkg:
            continue
        try:
            importlib.import_module(f"yikatong.{module.name}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"yikatong.{module.name}.models":
                raise


_PLAN_METHODS = frozenset({"seqscan", "nestloop"})

# A statement that adds at least this many rows to a table has its statistics refreshed after.
ANALYZE_ROWS = 10_000


def analyze(session: Session, *tables: str) -> None:
    """Refresh PostgreSQL's statistics of ``tables`` in the caller's transaction, its own new
    rows counted, after a statement that grew them by a batch (``ANALYZE_ROWS`` or more).

    Autovacuum looks again only a while after a commit. Until then the statements that follow,
    in this transaction or the next (approving the batch just drawn up, reconciling it against
    the transfers just posted), are planned as if the tables had their old size: on a node's
    first batch, as if they were empty, and PostgreSQL then scans one table once per row of
    the other. SQLite keeps no statistics unless asked: nothing changes there.
    """
    unknown = [table for table in tables if table not in Base.metadata.tables]
    if unknown:
        raise ValueError(f"not tables of the platform: {', '.join(unknown)}")
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(f'ANALYZE "{table}"'))


@contextmanager
def planned_without(session: Session, *methods: str) -> Iterator[None]:
    """Plan the statements inside without these PostgreSQL plan methods (``enable_<method>``
    off for the transaction; the previous values restored on the way out).

    A set-based statement over a table that grew by a million rows since it was last analysed
    (a month's payment lines, the ledger a batch just posted to) is otherwise planned as if the
    table were still nearly empty, and PostgreSQL then reads it once per row it looks up: a
    quadratic plan. Without ``seqscan`` a correlated lookup goes through its index; without
    ``nestloop`` a join of two large sets is hashed (or merged) once. SQLite, which keeps no
    statistics unless asked, plans on its indexes anyway: nothing changes there.
    """
    unknown = set(methods) - _PLAN_METHODS
    if unknown:
        raise ValueError(f"unknown plan methods: {', '.join(sorted(unknown))}")
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    names = [f"enable_{method}" for method in methods]
    before = {
        name: session.execute(text("SELECT current_setting(:name)"), {"name": name}).scalar_one()
        for name in names
    }
    for name in names:
        session.execute(text("SELECT set_config(:name, 'off', true)"), {"name": name})
    yield
    # Not after an error: the transaction is then rolled back, and the settings with it.
    for name, value in before.items():
        session.execute(
            text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
        )
