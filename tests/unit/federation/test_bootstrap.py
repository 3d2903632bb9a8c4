"""``ykt federation league bootstrap``: one command makes a signed league for N cities."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from yikatong.cli import app
from yikatong.crypto.keyring import KeyStore
from yikatong.federation.bootstrap import read_env_file
from yikatong.federation.league import load_league

runner = CliRunner()


def _bootstrap(directory: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["federation", "league", "bootstrap", str(directory), "--name", "济青郑", *extra],
    )
    return result.exit_code, result.output


def test_bootstrap_signs_a_league_with_each_citys_own_key(tmp_path: Path) -> None:
    code, output = _bootstrap(
        tmp_path / "lg",
        "--city",
        "370200:青岛",
        "--city",
        "370100:济南",
        "--city",
        "410100:郑州:http://10.0.0.3:9000",
        "--base-port",
        "8101",
    )
    assert code == 0, output
    league = load_league(tmp_path / "lg" / "league.json")
    assert league.cities == {"370200", "370100", "410100"}
    assert league.endpoint("370200") == "http://127.0.0.1:8101"
    assert league.endpoint("370100") == "http://127.0.0.1:8102"
    assert league.endpoint("410100") == "http://10.0.0.3:9000"
    for city in ("370200", "370100", "410100"):
        env = read_env_file(tmp_path / "lg" / city / "node.env")
        assert env["YKT_CITY_CODE"] == city
        assert Path(env["YKT_LEAGUE_FILE"]) == (tmp_path / "lg" / "league.json").resolve()
        (key,) = KeyStore(Path(env["YKT_DATA_DIR"]) / "keys" / "signing").load_all()
        listed = league.trust.get(key.key_id)
        assert listed is not None and listed.city_code == city
        assert listed.public_key == key.public_key
    # The operator's private key is not in any city's directory.
    operator_key = league.document.operator.key_id
    assert (tmp_path / "lg" / "operator" / f"{operator_key}.json").exists()


def test_bootstrap_refuses_a_city_without_endpoint_and_an_existing_league(tmp_path: Path) -> None:
    code, output = _bootstrap(tmp_path / "lg", "--city", "370200:青岛", "--city", "370100:济南")
    assert code != 0 and "endpoint" in output
    assert not (tmp_path / "lg" / "league.json").exists()
    code, output = _bootstrap(tmp_path / "lg", "--city", "37020:青岛:http://a", "--city", "x")
    assert code != 0 and "six-digit" in output
    ok = ("--city", "370200:青岛:http://a:1", "--city", "370100:济南:http://b:2")
    assert _bootstrap(tmp_path / "lg2", *ok)[0] == 0
    code, output = _bootstrap(tmp_path / "lg2", *ok)
    assert code != 0 and "already exists" in output


def test_the_demo_league_is_made_once_and_read_back(tmp_path: Path) -> None:
    from yikatong.federation.demo_league import bootstrap_demo_league, settings_of

    made = bootstrap_demo_league(tmp_path / "demo", base_port=9101)
    again = bootstrap_demo_league(tmp_path / "demo", base_port=9101)
    assert [c.city_code for c in made.cities] == ["370200", "370100", "410100"]
    assert [(c.city_code, c.endpoint, c.key_id) for c in again.cities] == [
        (c.city_code, c.endpoint, c.key_id) for c in made.cities
    ]
    assert again.operator_key_id == made.operator_key_id
    settings = settings_of(again.cities[1])
    assert (settings.city_code, settings.city_name, settings.demo) == ("370100", "济南", True)
