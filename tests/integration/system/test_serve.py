"""``ykt serve`` and ``ykt demo`` start the server through ``run_server``: start-up objects kept
out of the collector's way, connections limited by what a city's terminals keep open, requests
by what the node can answer at once."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from tests.support.keepalive import KeepAliveConnection
from yikatong.api.app import create_app, run_server
from yikatong.api.system import MAX_CONCURRENT_REQUESTS, MAX_CONNECTIONS, RequestsInFlight
from yikatong.core import db
from yikatong.core.settings import Settings
from yikatong.node import Node

YKT = Path(sys.executable).with_name("ykt")


def test_start_up_objects_are_out_of_the_collectors_reach_before_serving(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    node = Node.open(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/s.db"))
    app = create_app(node=node)
    seen: dict[str, Any] = {}

    def serve(application: object, **options: Any) -> None:
        # The server proper (uvicorn's loop) starts here; what it would serve is checked instead.
        seen.update(application=application, frozen=gc.get_freeze_count(), **options)

    monkeypatch.setattr(uvicorn, "run", serve)
    try:
        run_server(app, host="127.0.0.1", port=8123)
    finally:
        gc.unfreeze()
        node.close()
    assert seen["application"] is app
    assert seen["frozen"] > 50_000  # the application's routes, schemas and modules
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert seen["limit_concurrency"] == MAX_CONNECTIONS


def test_requests_beyond_the_limit_are_answered_busy_and_the_rest_go_through() -> None:
    release = asyncio.Event()
    answered = 0

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal answered
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        answered += 1

    limited = RequestsInFlight(slow, limit=2)

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            first = [asyncio.create_task(client.get("/a")) for _ in range(2)]
            while limited.in_flight < 2:
                await asyncio.sleep(0.001)
            busy = await client.get("/a")
            release.set()
            return list(await asyncio.gather(*first)), busy

    done, busy = asyncio.run(scenario())
    assert [r.status_code for r in done] == [200, 200]
    assert busy.status_code == 503
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["detail"].startswith("the node is answering 2 requests already")
    assert answered == 2 and limited.in_flight == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _keep_alive_gets(port: int, connections: int, rounds: int) -> list[int]:
    """``connections`` clients (validators) each keeping one connection open, asking
    ``GET /api/v1/node`` ``rounds`` times on it, ten clients at a time; the statuses answered."""
    opened = [KeepAliveConnection("127.0.0.1", port) for _ in range(connections)]
    for connection in opened:
        await connection.open()
    statuses: list[int] = []

    async def ask(connection: KeepAliveConnection) -> None:
        status, _ = await connection.request("GET", "/api/v1/node")
        statuses.append(status)

    for _ in range(rounds):
        for first in range(0, connections, 10):
            await asyncio.gather(*(ask(connection) for connection in opened[first : first + 10]))
    for connection in opened:
        connection.close()
    return statuses


def test_more_open_terminal_connections_than_requests_at_once_are_all_answered(
    tmp_path: Path,
) -> None:
    """A city's validators keep their connections open between taps: 150 of them (more than
    the requests the node answers at once) are all served, over real HTTP to ``ykt serve``."""
    url = f"sqlite:///{tmp_path}/serve.db"
    node = Node.open(Settings(data_dir=tmp_path, database_url=url))
    db.create_schema(node.engine)
    node.close()
    port = _free_port()
    env = {**os.environ, "YKT_DATA_DIR": str(tmp_path), "YKT_DATABASE_URL": url}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(YKT), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/node", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        connections = MAX_CONCURRENT_REQUESTS + 86
        statuses = asyncio.run(_keep_alive_gets(port, connections, rounds=2))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert statuses == [200] * (2 * connections), log.read_text()[-2000:]
