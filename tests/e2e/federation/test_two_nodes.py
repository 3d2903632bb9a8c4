"""Two real nodes (Qingdao, Jinan) over loopback HTTP: the fast end-to-end run of federation
(the default test run). Cross-city cards and the three-city crash tests are marked slow."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.e2e.federation.conftest import JINAN, QINGDAO, City, run_ykt, wait_until
from yikatong.core import clock

INBOX = "/api/v1/federation/inbox"


def test_notes_cross_over_http_once_and_in_order(two_cities: dict[str, City]) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    texts = [f"青岛→济南 {i}" for i in range(1, 21)]
    qingdao.queue_notes(JINAN, "notes", texts[:10])
    # The operator command queues through the same outbox.
    sent = run_ykt(qingdao.env, "federation", "note", "--to", JINAN, "--text", texts[10])
    assert sent.returncode == 0, sent.stderr
    qingdao.queue_notes(JINAN, "notes", texts[11:])

    wait_until(
        lambda: len(jinan.applied_notes(QINGDAO, "notes")) == 20,
        timeout=30,
        what="Jinan to apply 20 notes",
    )
    assert jinan.applied_notes(QINGDAO, "notes") == list(enumerate(texts, start=1))
    # Jinan applies a note before it answers; Qingdao records the delivery once the answer is
    # back, a moment later.
    wait_until(
        lambda: qingdao.undelivered(JINAN) == 0,
        timeout=30,
        what="Qingdao to record every note delivered",
    )

    status = httpx.get(
        f"{jinan.url}/api/v1/federation/status", headers=jinan.admin_headers()
    ).json()
    assert status["city_code"] == JINAN
    assert status["league"] == "济青郑"
    assert [p["city_code"] for p in status["peers"]] == [QINGDAO]
    assert {"sender": QINGDAO, "stream": "notes", "next_seq": 21} in [
        {k: s[k] for k in ("sender", "stream", "next_seq")} for s in status["inbound"]
    ]


def _post(city: City, wire: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{city.url}{INBOX}", json=wire, timeout=10)


def test_bad_envelopes_are_refused_with_distinct_reasons_and_logged(
    two_cities: dict[str, City],
) -> None:
    qingdao, jinan = two_cities[QINGDAO], two_cities[JINAN]
    now = clock.now()

    good = qingdao.seal(JINAN, stream="probe", seq=1, body={"text": "genuine"})
    first = _post(jinan, good.to_wire())
    assert first.status_code == 200 and first.json()["status"] == "applied"
    # The same envelope again (a retry after a lost acknowledgement) changes nothing.
    again = _post(jinan, good.to_wire())
    assert again.status_code == 200 and again.json()["status"] == "duplicate"

    tampered = qingdao.seal(JINAN, stream="probe", seq=2, body={"text": "pay 100"}).to_wire()
    tampered["body"] = {"text": "pay 100000"}
    replayed = qingdao.seal(
        JINAN, message_id=good.message_id, stream="probe", seq=1, body={"text": "forged"}
    )
    expired = qingdao.seal(JINAN, stream="probe", seq=2, created_at=now - dt.timedelta(hours=25))
    misrouted = qingdao.seal(QINGDAO, stream="probe", seq=2)
    ahead = qingdao.seal(JINAN, stream="probe", seq=2, created_at=now + dt.timedelta(minutes=10))
    # Signed by Jinan's own key but claiming to come from Zhengzhou, not a member here.
    stranger = jinan.seal(QINGDAO, sender="410100", stream="probe", seq=1)
    cases = {
        "tampered": (tampered, 401),
        "replayed": (replayed.to_wire(), 409),
        "expired": (expired.to_wire(), 422),
        "misrouted": (misrouted.to_wire(), 421),
        "clock-skew": (ahead.to_wire(), 422),
        "unknown-sender": (stranger.to_wire(), 401),
    }
    for reason, (wire, code) in cases.items():
        response = _post(jinan if reason != "unknown-sender" else qingdao, wire)
        assert response.status_code == code, (reason, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["reason"] == reason

    # Within the allowed skew (5 min) a sender's fast clock is accepted.
    slightly_ahead = qingdao.seal(
        JINAN, stream="probe", seq=2, created_at=now + dt.timedelta(minutes=2)
    )
    assert _post(jinan, slightly_ahead.to_wire()).json()["status"] == "applied"
    assert jinan.applied_notes(QINGDAO, "probe") == [(1, "genuine"), (2, "probe")]

    def logged(city: City) -> set[str]:
        rows = httpx.get(
            f"{city.url}/api/v1/federation/rejections", headers=city.admin_headers()
        ).json()
        return {row["reason"] for row in rows}

    assert {"tampered", "replayed", "expired", "misrouted", "clock-skew"} <= logged(jinan)
    assert "unknown-sender" in logged(qingdao)
