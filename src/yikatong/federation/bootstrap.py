"""Set up a whole league in one step (组建联盟): operator key, city keys, signed league file.

For a demo, a test or a pilot where one operator prepares every node: each city gets a data
directory holding its own signing key, and a ``node.env`` file with the ``YKT_*`` settings that
start its node (``(set -a; . 370200/node.env; ykt serve --port …)``). In a real league each city
makes its key on its own machine (``ykt federation key``) and the operator only adds the public
half (``ykt federation league add-member``); the result is the same signed file.

Layout of ``directory``::

    league.json            the signed league file every node loads
    operator/              the league operator's private key (keep it off the nodes)
    370200/node.env        YKT_DATA_DIR, YKT_CITY_CODE, YKT_CITY_NAME, YKT_LEAGUE_FILE, …
    370200/keys/signing/   the city's private signing key
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.crypto.keyring import ALGORITHMS, Algorithm, KeyStore
from yikatong.federation import league as lg

_CITY_RE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class CitySpec:
    city_code: str
    name: str
    endpoint: str

    @classmethod
    def parse(cls, text: str, *, default_endpoint: str | None = None) -> CitySpec:
        """``CODE:NAME[:ENDPOINT]``, e.g. ``370200:青岛:http://127.0.0.1:8101``."""
        parts = text.split(":", 2)
        if len(parts) < 2 or not _CITY_RE.match(parts[0]) or not parts[1].strip():
            raise InvalidInput(
                f"{text!r} is not CODE:NAME[:ENDPOINT] with a six-digit city code", field="city"
            )
        endpoint = parts[2] if len(parts) == 3 else default_endpoint
        if not endpoint:
            raise InvalidInput(
                f"city {parts[0]} needs an endpoint: CODE:NAME:http://host:port or --base-port",
                field="city",
            )
        return cls(parts[0], parts[1].strip(), endpoint.rstrip("/"))


@dataclass(frozen=True)
class CityNode:
    city_code: str
    name: str
    endpoint: str
    data_dir: Path
    env_file: Path
    key_id: str
    env: dict[str, str]


@dataclass(frozen=True)
class BootstrappedLeague:
    league_file: Path
    operator_dir: Path
    operator_key_id: str
    cities: list[CityNode]


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of a ``node.env`` file."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def bootstrap_league(
    directory: Path, *, name: str, cities: list[CitySpec], algorithm: Algorithm = "SM2"
) -> BootstrappedLeague:
    """Create the operator key, one signing key per city and the signed league file."""
    if algorithm not in ALGORITHMS:
        raise InvalidInput("algorithm must be SM2 or Ed25519", field="algorithm")
    if len(cities) < 2:
        raise InvalidInput("a league needs at least two cities", field="city")
    codes = [c.city_code for c in cities]
    if len(set(codes)) != len(codes):
        raise InvalidInput("a city code is given twice", field="city")
    league_file = directory / "league.json"
    if league_file.exists():
        raise Conflict(f"{league_file} already exists; amend it with 'league add-member'")
    directory = directory.resolve()
    league_file = directory / "league.json"
    directory.mkdir(parents=True, exist_ok=True)
    now = clock.now()
    operator_dir = directory / "operator"
    operator = KeyStore(operator_dir).ensure_active("league", algorithm, now)
    os.chmod(operator_dir, 0o700)
    document = lg.new_document(name, operator)
    nodes: list[CityNode] = []
    for spec in cities:
        data_dir = directory / spec.city_code
        # The same place Node.open keeps its signing keys: data_dir/keys/signing.
        key = KeyStore(data_dir / "keys" / "signing").ensure_active(spec.city_code, algorithm, now)
        document = lg.with_member(
            document,
            city_code=spec.city_code,
            name=spec.name,
            endpoint=spec.endpoint,
            key=key.verify_key(),
        )
        env = {
            "YKT_DATA_DIR": str(data_dir),
            "YKT_CITY_CODE": spec.city_code,
            "YKT_CITY_NAME": spec.name,
            "YKT_SIGNATURE_ALGORITHM": algorithm,
            "YKT_LEAGUE_FILE": str(league_file),
        }
        env_file = data_dir / "node.env"
        env_file.write_text(
            f"# node {spec.city_code} {spec.name}, listening at {spec.endpoint}\n"
            + "".join(f"{k}={v}\n" for k, v in env.items()),
            encoding="utf-8",
        )
        nodes.append(
            CityNode(spec.city_code, spec.name, spec.endpoint, data_dir, env_file, key.key_id, env)
        )
    signed = lg.sign_document(document, operator)
    tmp = league_file.with_suffix(".tmp")
    tmp.write_text(signed.to_json(), encoding="utf-8")
    tmp.replace(league_file)
    return BootstrappedLeague(league_file, operator_dir, operator.key_id, nodes)


def read_league_directory(directory: Path) -> BootstrappedLeague:
    """A directory made by :func:`bootstrap_league`, read back (league verified)."""
    directory = directory.resolve()
    league = lg.load_league(directory / "league.json")
    nodes = []
    for member in league.document.members:
        env_file = directory / member.city_code / "node.env"
        if not env_file.exists():
            continue
        env = read_env_file(env_file)
        key = KeyStore(Path(env["YKT_DATA_DIR"]) / "keys" / "signing").active(
            env["YKT_SIGNATURE_ALGORITHM"]  # type: ignore[arg-type]
        )
        nodes.append(
            CityNode(
                member.city_code,
                member.name,
                member.endpoint,
                Path(env["YKT_DATA_DIR"]),
                env_file,
                key.key_id if key else "",
                env,
            )
        )
    return BootstrappedLeague(
        directory / "league.json",
        directory / "operator",
        league.document.operator.key_id,
        nodes,
    )
