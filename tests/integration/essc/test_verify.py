"""Issuing codes and verifying them online (在线验码): single use, dead as soon as the card is
reported lost, family codes, key rotation; and the deny-list delta for offline terminals."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from tests.integration.essc.conftest import CLERK, People
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput
from yikatong.essc import service, tokens
from yikatong.essc.tokens import Level, RejectReason, TokenRejected
from yikatong.node import Node


def issue(node: Node, resident_id: int, **kwargs: object) -> service.IssuedQr:
    with node.transaction() as session:
        return service.issue_qr(session, resident_id, Level.L1, **kwargs)  # type: ignore[arg-type]


def verify(node: Node, text: str) -> service.OnlineVerdict:
    with node.transaction() as session:
        return service.verify_online(session, text)


def reason(node: Node, text: str) -> RejectReason:
    with pytest.raises(TokenRejected) as caught:
        verify(node, text)
    return caught.value.reason


def test_an_l1_code_verifies_once_and_shows_the_masked_holder(node: Node, people: People) -> None:
    person = people.resident(name="王小明")
    people.account(person)
    verdict = verify(node, issue(node, person.resident_id).text)
    assert verdict.claims.card_ref == person.card_ref
    assert verdict.identity is not None
    assert verdict.identity.name == "王**"
    assert "*" in verdict.identity.id_number


def test_a_code_shown_twice_is_replayed(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person)
    text = issue(node, person.resident_id).text
    verify(node, text)
    assert reason(node, text) is RejectReason.REPLAYED


def test_concurrent_scans_of_one_code_accept_exactly_one(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person)
    text = issue(node, person.resident_id).text
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def scan() -> None:
        barrier.wait()
        try:
            verify(node, text)
            outcomes.append("ok")
        except TokenRejected as exc:
            outcomes.append(exc.reason.value)

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "replayed", "replayed", "replayed"]


def test_reporting_the_card_lost_kills_its_codes_at_once(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person)
    text = issue(node, person.resident_id).text
    assert person.card_no is not None
    with node.transaction() as session:
        cards_service.report_lost(session, person.card_no, actor=CLERK, reason="phone call")
    assert reason(node, text) is RejectReason.CARD_NOT_ACTIVE


def test_the_deny_list_delta_lets_an_offline_terminal_refuse_a_lost_card(
    node: Node, people: People
) -> None:
    person = people.resident()
    people.account(person)
    text = issue(node, person.resident_id).text
    terminal = tokens.DenyList()
    with node.transaction() as session:
        terminal.apply(service.deny_list_delta(session, terminal.last_seq))
    trust = service.own_trust_list()
    assert tokens.verify_offline(text, trust, now=clock.now(), denied_refs=terminal.refs)
    assert person.card_no is not None
    with node.transaction() as session:
        cards_service.report_lost(session, person.card_no, actor=CLERK, reason="phone call")
    with node.transaction() as session:
        terminal.apply(service.deny_list_delta(session, terminal.last_seq))
    with pytest.raises(TokenRejected) as caught:
        tokens.verify_offline(text, trust, now=clock.now(), denied_refs=terminal.refs)
    assert caught.value.reason is RejectReason.DENIED


def test_no_code_is_issued_for_a_card_that_is_not_active(node: Node, people: People) -> None:
    person = people.resident(active=False)
    people.account(person)
    with pytest.raises(Conflict, match="not active"):
        issue(node, person.resident_id)


def test_an_expired_code_is_refused_online(
    node: Node, people: People, fixed_clock: clock.FixedClock
) -> None:
    person = people.resident()
    people.account(person)
    text = issue(node, person.resident_id).text
    fixed_clock.advance(seconds=60 + tokens.DEFAULT_SKEW.total_seconds() + 1)
    assert reason(node, text) is RejectReason.EXPIRED


def test_a_code_of_another_city_is_refused_by_default(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person)
    text = issue(node, person.resident_id).text
    with pytest.raises(TokenRejected) as caught, node.transaction() as session:
        service.verify_online(session, text, accept_cities={"370600"})
    assert caught.value.reason is RejectReason.WRONG_CITY


def test_a_holder_shows_an_l1_code_for_a_relative_in_the_family(node: Node, people: People) -> None:
    holder, mother = people.resident(), people.resident(birth=dt.date(1950, 2, 3), name="李秀英")
    people.relate(holder, mother, cards_service.registry_service.RelationType.PARENT)
    account_id = people.account(holder)
    with node.transaction() as session:
        service.add_family_member(session, account_id, mother.resident_id, actor=CLERK)
    issued = issue(node, holder.resident_id, for_relative=mother.resident_id)
    assert issued.resident_id == mother.resident_id
    verdict = verify(node, issued.text)
    assert verdict.claims.card_ref == mother.card_ref
    assert verdict.identity is not None and verdict.identity.name == "李**"


def test_no_family_code_for_someone_outside_the_family(node: Node, people: People) -> None:
    holder, stranger = people.resident(), people.resident()
    people.account(holder)
    with pytest.raises(Forbidden, match="not in your family account"):
        issue(node, holder.resident_id, for_relative=stranger.resident_id)


def test_a_family_code_cannot_be_a_payment_code(node: Node, people: People) -> None:
    holder, sibling = people.resident(), people.resident()
    people.relate(holder, sibling)
    account_id = people.account(holder)
    with node.transaction() as session:
        service.add_family_member(session, account_id, sibling.resident_id, actor=CLERK)
    with pytest.raises(InvalidInput) as caught, node.transaction() as session:
        service.issue_qr(
            session, holder.resident_id, "L2", pin="428135", for_relative=sibling.resident_id
        )
    assert caught.value.field == "level"


def test_a_code_signed_before_key_rotation_still_verifies_until_it_expires(
    node: Node, people: People, fixed_clock: clock.FixedClock
) -> None:
    person = people.resident()
    people.account(person)
    old = issue(node, person.resident_id)
    fixed_clock.advance(seconds=20)
    node.keystore.rotate(node.city_code, "SM2", clock.now())
    new = issue(node, person.resident_id)
    assert new.claims.key_id != old.claims.key_id
    assert verify(node, old.text).claims.key_id == old.claims.key_id
    assert verify(node, new.text).claims.key_id == new.claims.key_id


def test_purging_forgets_only_expired_nonces(
    node: Node, people: People, fixed_clock: clock.FixedClock
) -> None:
    person = people.resident()
    people.account(person)
    verify(node, issue(node, person.resident_id).text)
    fixed_clock.advance(seconds=50)
    verify(node, issue(node, person.resident_id).text)
    fixed_clock.advance(seconds=30)  # the first code is past expiry and skew, the second is not
    with node.transaction() as session:
        assert service.purge_used_nonces(session) == 1
        assert service.used_nonce_count(session) == 1
