"""Three city nodes on one machine (Qingdao, Jinan, Zhengzhou) for the demo and benchmarks.

:func:`bootstrap_demo_league` makes (once) the league directory: operator key, one data directory,
signing key and ``node.env`` per city, the signed league file, endpoints on loopback ports from
``base_port``. :func:`serve_league` starts ``ykt serve`` for each city as a child process (its own
SQLite database under its data directory) and waits until every one answers; the caller prepares
each city's database before (``migrate.upgrade`` / the demo loader, with ``YKT_*`` from
:attr:`CityServer.env`) and stops the servers after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from yikatong.core.settings import Settings
from yikatong.federation.bootstrap import (
    BootstrappedLeague,
    CityNode,
    CitySpec,
    bootstrap_league,
    read_league_directory,
)

DEMO_CITIES: tuple[tuple[str, str], ...] = (
    ("370200", "青岛"),
    ("370100", "济南"),
    ("410100", "郑州"),
)
DEMO_LEAGUE = "济青郑"


def bootstrap_demo_league(
    directory: Path,
    *,
    base_port: int = 8101,
    cities: tuple[tuple[str, str], ...] = DEMO_CITIES,
) -> BootstrappedLeague:
    """The demo league in ``directory`` (made on first call, read back afterwards)."""
    league_file = directory / "league.json"
    if not league_file.exists():
        specs = [
            CitySpec(code, name, f"http://127.0.0.1:{base_port + i}")
            for i, (code, name) in enumerate(cities)
        ]
        return bootstrap_league(directory, name=DEMO_LEAGUE, cities=specs)
    return read_league_directory(directory)


def settings_of(city: CityNode, *, demo: bool = True) -> Settings:
    """The settings a city's node runs with (to open its database in this process)."""
    return Settings(
        data_dir=city.data_dir,
        city_code=city.city_code,
        city_name=city.name,
        signature_algorithm=city.env["YKT_SIGNATURE_ALGORITHM"],
        league_file=Path(city.env["YKT_LEAGUE_FILE"]),
        demo=demo,
    )


@dataclass
class CityServer:
    """``ykt serve`` for one city, as a child process."""

    city: CityNode
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return self.city.endpoint

    def spawn(self) -> None:
        port = self.city.endpoint.rsplit(":", 1)[-1]
        ykt = str(Path(sys.executable).parent / "ykt")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [ykt, "serve", "--port", port],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C reaches the parent, which stops the nodes in order.
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.city.city_code} exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/api/v1/node", timeout=1.0).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node {self.city.city_code} did not answer; see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def serve_league(
    league: BootstrappedLeague, *, demo: bool = True, wait: bool = True
) -> list[CityServer]:
    """Start every city's server at once (logs in each data directory) and wait for them."""
    servers = []
    for city in league.cities:
        env = {**city.env, "YKT_DEMO": "true" if demo else "false"}
        servers.append(CityServer(city, env, city.data_dir / "serve.log"))
    for server in servers:
        server.spawn()
    if wait:
        try:
            for server in servers:
                server.wait_ready()
        except RuntimeError:
            for server in servers:
                server.stop()
            raise
    return servers
