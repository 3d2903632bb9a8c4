"""Real city nodes: ``ykt serve`` processes on free loopback ports, one SQLite data dir each.

The league (operator key, city keys, signed league file, ``node.env`` per city) is made with the
product's own command, ``ykt federation league bootstrap``. The test process also opens each
city's database directly (as ``ykt`` commands do on that machine) to queue messages and to read
what was applied; every envelope travels between the processes over HTTP.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from yikatong.api.auth import issue_token
from yikatong.core import clock, db
from yikatong.core.settings import Settings
from yikatong.federation import service
from yikatong.federation.bootstrap import CitySpec, bootstrap_league, read_env_file
from yikatong.federation.envelope import Envelope, seal
from yikatong.node import Node, set_current
from yikatong.node import current as _current


def current_node_or_none() -> Node | None:
    try:
        return _current()
    except RuntimeError:
        return None


YKT = str(Path(sys.executable).parent / "ykt")
QINGDAO, JINAN, ZHENGZHOU = "370200", "370100", "410100"
NAMES = {QINGDAO: "青岛", JINAN: "济南", ZHENGZHOU: "郑州"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_ykt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [YKT, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class City:
    """One city's node: its server process and a direct handle on its database and keys."""

    code: str
    port: int
    env: dict[str, str]
    log_path: Path
    node: Node
    process: subprocess.Popen[bytes] | None = None
    restarts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 90.0) -> None:
        self.spawn()
        self.wait_ready(timeout=timeout)

    def spawn(self) -> None:
        assert self.process is None or self.process.poll() is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [YKT, "serve", "--port", str(self.port)],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, *, timeout: float = 90.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"node {self.code} exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/node", timeout=1.0).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"node {self.code} did not come up:\n{self.log_tail()}")

    def kill9(self) -> None:
        """Kill the server without warning (SIGKILL): no shutdown, no flush."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Run services on this city's database as its node (they reach it via current())."""
        previous = current_node_or_none()
        set_current(self.node)
        try:
            yield
        finally:
            set_current(previous)

    def headers(self, role: str) -> dict[str, str]:
        token = issue_token(self.node, f"e2e-{role}", [role])
        return {"Authorization": f"Bearer {token}"}

    def admin_headers(self) -> dict[str, str]:
        token = issue_token(self.node, "e2e-admin", ["admin"])
        return {"Authorization": f"Bearer {token}"}

    def seal(self, receiver: str, **over: Any) -> Envelope:
        """An envelope signed with this city's own key (as its dispatcher would)."""
        fields: dict[str, Any] = {
            "message_id": str(uuid.uuid4()),
            "sender": self.code,
            "receiver": receiver,
            "stream": "probe",
            "seq": 1,
            "payload_type": "note",
            "body": {"text": "probe"},
            "key": self.node.signing_key(),
            "created_at": clock.now(),
        }
        fields.update(over)
        return seal(**fields)

    def queue_notes(self, receiver: str, stream: str, texts: list[str]) -> None:
        with self.node.transaction() as session:
            for text in texts:
                service.send_note(session, receiver, text, stream=stream)

    def applied_notes(self, sender: str, stream: str) -> list[tuple[int, str]]:
        with self.node.transaction() as session:
            return [
                (n.seq, n.text)
                for n in service.notes(session, sender=sender, limit=100_000)
                if n.stream == stream
            ]

    def ledger_balance(self, code: str) -> int:
        from yikatong.ledger import service as ledger

        with self.node.transaction() as session:
            return int(ledger.balance(session, ledger.get_account_by_code(session, code).id))

    def undelivered(self, receiver: str | None = None) -> int:
        from sqlalchemy import func, select

        from yikatong.core.outbox import OutboxMessage

        query = select(func.count()).where(OutboxMessage.delivered_at.is_(None))
        if receiver:
            query = query.where(OutboxMessage.receiver == receiver)
        with self.node.transaction() as session:
            return int(session.scalar(query) or 0)


def start_league(
    tmp: Path, codes: list[str], *, keys_made_at: dt.datetime | None = None
) -> dict[str, City]:
    """Bootstrap a signed league for ``codes`` and start one server per city.

    With ``keys_made_at`` the league is bootstrapped in-process with keys made at that instant
    (to sign an envelope older than the acceptance window); otherwise with the CLI.
    """
    ports = {code: free_port() for code in codes}
    specs = [f"{code}:{NAMES[code]}:http://127.0.0.1:{ports[code]}" for code in codes]
    if keys_made_at is None:
        args = ["federation", "league", "bootstrap", str(tmp / "league"), "--name", "济青郑"]
        made = run_ykt({}, *args, *(arg for spec in specs for arg in ("--city", spec)))
        assert made.returncode == 0, made.stderr + made.stdout
    else:
        with clock.clock_override(clock.FixedClock(keys_made_at)):
            bootstrap_league(
                tmp / "league", name="济青郑", cities=[CitySpec.parse(spec) for spec in specs]
            )
    cities: dict[str, City] = {}
    for code in codes:
        env = read_env_file(tmp / "league" / code / "node.env")
        # The league's acceptance policy carries illustrative figures: demo mode allows them.
        env["YKT_DEMO"] = "true"
        settings = Settings(
            data_dir=Path(env["YKT_DATA_DIR"]),
            city_code=env["YKT_CITY_CODE"],
            city_name=env["YKT_CITY_NAME"],
            signature_algorithm=env["YKT_SIGNATURE_ALGORITHM"],
            league_file=Path(env["YKT_LEAGUE_FILE"]),
            demo=True,
        )
        node = Node.open(settings)
        db.create_schema(node.engine)
        cities[code] = City(code, ports[code], env, tmp / f"{code}.log", node)
    # Start every server at once: each spends seconds importing before it listens.
    for city in cities.values():
        city.spawn()
    for city in cities.values():
        city.wait_ready()
    return cities


def stop_league(cities: dict[str, City]) -> None:
    for city in cities.values():
        city.stop()
        city.node.close()


@pytest.fixture(scope="module")
def two_cities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, City]]:
    cities = start_league(
        tmp_path_factory.mktemp("two"),
        [QINGDAO, JINAN],
        keys_made_at=clock.now() - dt.timedelta(days=2),
    )
    yield cities
    stop_league(cities)


@pytest.fixture(scope="module")
def three_cities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, City]]:
    cities = start_league(tmp_path_factory.mktemp("three"), [QINGDAO, JINAN, ZHENGZHOU])
    yield cities
    stop_league(cities)
