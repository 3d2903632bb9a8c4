"""The league file: signed by the operator, refused when unsigned, tampered or substituted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from yikatong.core import clock
from yikatong.core.errors import InvalidInput
from yikatong.crypto.keyring import SigningKey
from yikatong.federation import league as lg

T0 = dt.datetime(2025, 3, 10, 2, 0, tzinfo=dt.UTC)
OPERATOR = SigningKey.generate("league", "SM2", T0)
QINGDAO = SigningKey.generate("370200", "SM2", T0)
YANTAI = SigningKey.generate("370600", "Ed25519", T0)


@pytest.fixture(autouse=True)
def _clock() -> object:
    with clock.clock_override(clock.FixedClock(T0)) as fixed:
        yield fixed


def jiaodong(operator: SigningKey = OPERATOR) -> lg.LeagueDocument:
    document = lg.new_document("胶东经济圈", operator)
    document = lg.with_member(
        document,
        city_code="370200",
        name="青岛",
        endpoint="http://127.0.0.1:8001",
        key=QINGDAO.verify_key(),
    )
    document = lg.with_member(
        document,
        city_code="370600",
        name="烟台",
        endpoint="http://127.0.0.1:8002/",
        key=YANTAI.verify_key(),
    )
    return lg.sign_document(document, operator)


def write(path: Path, document: lg.LeagueDocument) -> Path:
    path.write_text(document.to_json(), encoding="utf-8")
    return path


def test_a_signed_league_lists_members_endpoints_and_keys(tmp_path: Path) -> None:
    league = lg.load_league(write(tmp_path / "league.json", jiaodong()))
    assert league.cities == {"370200", "370600"}
    assert league.endpoint("370600") == "http://127.0.0.1:8002"
    assert league.trust.get(QINGDAO.key_id) is not None
    assert league.trust.get(YANTAI.key_id).city_code == "370600"  # type: ignore[union-attr]


def test_an_unsigned_league_file_is_refused(tmp_path: Path) -> None:
    unsigned = jiaodong().model_copy(update={"signature": None})
    with pytest.raises(lg.LeagueInvalid, match="not signed"):
        lg.load_league(write(tmp_path / "league.json", unsigned))


def test_an_endpoint_changed_after_signing_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "league.json", jiaodong())
    path.write_text(path.read_text().replace("127.0.0.1:8002", "203.0.113.9:8002"))
    with pytest.raises(lg.LeagueInvalid, match="changed after signing"):
        lg.load_league(path)


def test_a_member_key_smuggled_in_after_signing_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "league.json", jiaodong())
    data = json.loads(path.read_text())
    rogue = SigningKey.generate("370200", "SM2", T0)
    data["members"][0]["keys"].append(
        {
            "key_id": rogue.key_id,
            "algorithm": "SM2",
            "public_key": rogue.public_key.hex(),
            "not_before": T0.isoformat(),
            "retired_at": None,
        }
    )
    path.write_text(json.dumps(data))
    with pytest.raises(lg.LeagueInvalid):
        lg.load_league(path)


def test_a_league_signed_by_another_operator_than_the_pinned_one_is_refused(
    tmp_path: Path,
) -> None:
    pin = tmp_path / "pin.json"
    lg.load_league(write(tmp_path / "a.json", jiaodong()), pin_path=pin)
    impostor = SigningKey.generate("league", "SM2", T0)
    with pytest.raises(lg.LeagueInvalid, match="trusts"):
        lg.load_league(write(tmp_path / "b.json", jiaodong(impostor)), pin_path=pin)


def test_an_older_version_than_the_one_accepted_is_refused(tmp_path: Path) -> None:
    pin = tmp_path / "pin.json"
    old = jiaodong()
    newer = lg.sign_document(
        lg.with_key_retired(old, YANTAI.key_id, T0 + dt.timedelta(days=1)), OPERATOR
    )
    assert newer.version == old.version + 1
    lg.load_league(write(tmp_path / "new.json", newer), pin_path=pin)
    with pytest.raises(lg.LeagueInvalid, match="older"):
        lg.load_league(write(tmp_path / "old.json", old), pin_path=pin)


def test_a_rotated_key_is_added_next_to_the_old_one(tmp_path: Path) -> None:
    successor = SigningKey.generate("370200", "SM2", T0 + dt.timedelta(days=1))
    document = lg.with_member(
        jiaodong(),
        city_code="370200",
        name="青岛",
        endpoint="http://127.0.0.1:8001",
        key=successor.verify_key(),
    )
    document = lg.with_key_retired(document, QINGDAO.key_id, T0 + dt.timedelta(days=2))
    league = lg.verify_document(lg.sign_document(document, OPERATOR))
    old = league.trust.get(QINGDAO.key_id)
    assert old is not None and old.retired_at == T0 + dt.timedelta(days=2)
    assert league.trust.get(successor.key_id) is not None


def test_a_city_cannot_be_listed_twice_under_one_key_of_another_city() -> None:
    with pytest.raises(InvalidInput, match="belongs to city 370600"):
        lg.with_member(
            jiaodong(),
            city_code="370200",
            name="青岛",
            endpoint="http://x",
            key=YANTAI.verify_key(),
        )


def test_a_key_id_that_does_not_match_its_public_key_is_refused(tmp_path: Path) -> None:
    data = json.loads(jiaodong().to_json())
    data["members"][0]["keys"][0]["key_id"] = "s00000000"
    with pytest.raises(lg.LeagueInvalid, match="does not match"):
        lg.parse_document(json.dumps(data))
