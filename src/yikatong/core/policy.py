"""Policy files: numbers a city or a year changes, as YAML validated by Pydantic.

A value a city has not published can be shipped as ``{value: …, illustrative: true}``. Such a
policy loads for the demo; anywhere else it is refused with the list of illustrative paths.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError

from yikatong.core.errors import PolicyError

P = TypeVar("P", bound=BaseModel)

# A wrapped value: {value: 462, illustrative: false, source: "seed 002", note: "…"}
_WRAPPER_KEYS = frozenset({"value", "illustrative", "source", "note"})


def _unwrap(node: Any, path: str, illustrative: list[str]) -> Any:
    if isinstance(node, dict):
        if "value" in node and set(node) <= _WRAPPER_KEYS:
            if node.get("illustrative"):
                illustrative.append(path)
            return _unwrap(node["value"], path, illustrative)
        return {
            k: _unwrap(v, f"{path}.{k}" if path else str(k), illustrative) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_unwrap(v, f"{path}[{i}]", illustrative) for i, v in enumerate(node)]
    return node


def parse_policy(
    data: dict[str, Any], model: type[P], *, source: str, allow_illustrative: bool
) -> tuple[P, list[str]]:
    illustrative: list[str] = []
    plain = _unwrap(data, "", illustrative)
    try:
        policy = model.model_validate(plain)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise PolicyError(
            f"policy {source} is invalid: " + "; ".join(problems), problems=problems
        ) from None
    if illustrative and not allow_illustrative:
        raise PolicyError(
            f"policy {source} carries illustrative values, allowed in the demo only: "
            + ", ".join(illustrative),
            illustrative=illustrative,
        )
    return policy, illustrative


def read_policy_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a policy file, or a PolicyError saying what is wrong with it."""
    if not path.is_file():
        raise PolicyError(f"policy file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path} must hold a mapping at the top level")
    return data


def load_policy_file(path: Path, model: type[P], *, allow_illustrative: bool = False) -> P:
    """Load and validate one policy file; refuse it with every problem listed."""
    policy, _ = parse_policy(
        read_policy_yaml(path), model, source=str(path), allow_illustrative=allow_illustrative
    )
    return policy


def packaged_policy_path(*parts: str) -> Path:
    """Path of a policy shipped with the package, e.g. ``("qingdao", "2025.yaml")``."""
    root = resources.files("yikatong") / "policies"
    return Path(str(root.joinpath(*parts)))


class DatedPolicy(Protocol):
    """A city's policy in force between two dates (fares, canteen subsidies, venue discounts)."""

    city_code: str
    valid_from: dt.date
    valid_until: dt.date


D = TypeVar("D", bound=BaseModel)


def packaged_policy_in_force(
    kind: str, model: type[D], city_code: str, on: dt.date, *, allow_illustrative: bool
) -> D:
    """The packaged ``<city>/<kind>-<year>.yaml`` of a city in force on a date."""
    policies: tuple[D, ...] = _packaged_of_year(kind, model, on.year, allow_illustrative)
    for policy in policies:
        dated = cast(DatedPolicy, policy)
        if dated.city_code == city_code and dated.valid_from <= on <= dated.valid_until:
            return policy
    raise PolicyError(
        f"no {kind} policy for city {city_code} on {on.isoformat()}; "
        f"add policies/<city>/{kind}-{on.year}.yaml"
    )


@functools.lru_cache(maxsize=64)
def _packaged_of_year(
    kind: str, model: type[D], year: int, allow_illustrative: bool
) -> tuple[D, ...]:
    # Packaged files are immutable while the process runs: read and validate each once.
    return tuple(
        load_policy_file(path, model, allow_illustrative=allow_illustrative)
        for path in sorted(packaged_policy_path().glob(f"*/{kind}-{year}.yaml"))
    )
