"""Appraisal rules that need no database: the panel policy, the reproducible draw and the
verification of a signed conclusion with another city's public key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml

from yikatong.appraisal import service
from yikatong.appraisal.policy import (
    AppraisalKind,
    AppraisalPolicy,
    InjuryCategory,
    load_appraisal_policy,
    policy_path,
)
from yikatong.core.errors import PolicyError
from yikatong.core.policy import parse_policy
from yikatong.crypto.keyring import Algorithm, SigningKey, TrustList
from yikatong.federation.league import canonical_json

NOW = dt.datetime(2025, 3, 10, 2, tzinfo=dt.UTC)
YANTAI = "370600"


def _data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(policy_path(2025).read_text(encoding="utf-8"))
    return data


def test_the_panel_has_3_seats_first_and_5_on_a_repeat_appraisal() -> None:
    policy = load_appraisal_policy(2025, allow_illustrative=True)
    assert policy.seats(AppraisalKind.INITIAL, InjuryCategory.LIMB) == ["骨科", "骨科", "康复医学"]
    assert len(policy.seats(AppraisalKind.REPEAT, InjuryCategory.HEAD)) == 5
    assert policy.exclude_own_city is False


def test_the_unpublished_panel_composition_loads_in_the_demo_only() -> None:
    with pytest.raises(PolicyError, match="illustrative"):
        load_appraisal_policy(2025)


def test_a_panel_of_four_is_refused() -> None:
    data = _data()
    data["panels"]["initial"]["limb"] = ["骨科", "骨科", "骨科", "康复医学"]
    with pytest.raises(PolicyError, match="3 or 5"):
        parse_policy(data, AppraisalPolicy, source="t", allow_illustrative=True)


def test_a_missing_category_is_refused() -> None:
    data = _data()
    del data["panels"]["recheck"]["sensory"]
    with pytest.raises(PolicyError, match=r"recheck\.sensory"):
        parse_policy(data, AppraisalPolicy, source="t", allow_illustrative=True)


def test_the_draw_is_a_function_of_seed_seat_round_and_candidates() -> None:
    candidates = [3, 8, 11, 15, 21]
    first = service.pick("2025-qd-17", 1, 1, candidates)
    assert all(service.pick("2025-qd-17", 1, 1, candidates) == first for _ in range(5))
    picks = {service.pick(f"seed-{n}", 1, 1, candidates) for n in range(60)}
    assert picks == set(candidates)  # every eligible expert can be drawn


def _signed(key: SigningKey, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": service.CONCLUSION_FORMAT,
        "v": service.CONCLUSION_VERSION,
        "case_ref": "7d7c2f7e-2b1c-4bb8-9a43-0f5d3d3b2c11",
        "city_code": key.city_code,
        "kind": "initial",
        "category": "limb",
        "grade": "7",
        "concluded_on": "2025-03-10",
        "delegated_by": None,
        "subject": {"id_masked": "370202********002X", "digest": "ab" * 32},
        "seed": "s",
        "panel": [
            {"seat": 1, "speciality": "骨科", "code": "YT-001", "name": "王", "city_code": YANTAI}
        ],
        "key_id": key.key_id,
        **over,
    }
    return {**body, "signature": key.sign(canonical_json(body)).hex()}


@pytest.mark.parametrize("algorithm", ["SM2", "Ed25519"])
def test_a_conclusion_verifies_with_the_signing_citys_public_key(algorithm: Algorithm) -> None:
    key = SigningKey.generate(YANTAI, algorithm, NOW)
    trust = TrustList()
    trust.add(key.verify_key())
    verified = service.verify_conclusion(_signed(key), trust)
    assert (verified.city_code, verified.grade, verified.kind) == (
        YANTAI,
        "7",
        AppraisalKind.INITIAL,
    )


def test_a_changed_grade_is_tampering() -> None:
    key = SigningKey.generate(YANTAI, "SM2", NOW)
    trust = TrustList()
    trust.add(key.verify_key())
    document = {**_signed(key), "grade": "5"}
    with pytest.raises(service.ConclusionRefused) as refused:
        service.verify_conclusion(document, trust)
    assert refused.value.reason == "tampered"


def test_an_unknown_signer_is_refused() -> None:
    key = SigningKey.generate(YANTAI, "Ed25519", NOW)
    with pytest.raises(service.ConclusionRefused) as refused:
        service.verify_conclusion(_signed(key), TrustList())
    assert refused.value.reason == "unknown-signer"


def test_a_key_of_another_city_cannot_sign_for_yantai() -> None:
    weifang = SigningKey.generate("370700", "Ed25519", NOW)
    trust = TrustList()
    trust.add(weifang.verify_key())
    with pytest.raises(service.ConclusionRefused) as refused:
        service.verify_conclusion(_signed(weifang, city_code=YANTAI), trust)
    assert refused.value.reason == "unknown-signer"


@pytest.mark.parametrize(
    "document",
    [None, [], {"format": "x"}],
)
def test_a_malformed_conclusion_is_refused(document: Any) -> None:
    with pytest.raises(service.ConclusionRefused) as refused:
        service.verify_conclusion(document, TrustList())
    assert refused.value.reason == "malformed"


def test_a_signed_grade_outside_the_scale_is_refused() -> None:
    key = SigningKey.generate(YANTAI, "Ed25519", NOW)
    trust = TrustList()
    trust.add(key.verify_key())
    with pytest.raises(service.ConclusionRefused, match="grade"):
        service.verify_conclusion(_signed(key, grade="11"), trust)
