"""``ykt venue``: the catalogue, slots, gates and the entry record from the command line."""

from __future__ import annotations

from tests.conftest import Ykt
from tests.integration.venues._world import MUSEUM, OPERATOR, World


def test_an_operator_builds_a_venue_from_the_command_line(world: World, ykt: Ykt) -> None:
    added = ykt(
        "venue", "add", "laoshan", "--name", "崂山风景区", "--category", "scenic_spot",
        "--operator", OPERATOR,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    product = ykt(
        "venue", "add-product", "laoshan", "--code", "laoshan-ticket", "--kind", "ticket",
        "--name", "门票", "--price", "130", "--needs-slot",
    )  # fmt: skip
    assert product.exit_code == 0, product.output
    assert "130.00" in product.output
    slots = ykt(
        "venue", "open-slots", "laoshan", "--day", "2025-03-11", "--capacity", "500",
        "--count", "4",
    )  # fmt: skip
    assert slots.exit_code == 0 and "4 slot(s)" in slots.output
    listed = ykt("venue", "slots", "laoshan", "--day", "2025-03-11")
    assert listed.output.count("500") == 4
    gate = ykt("venue", "add-gate", "laoshan", "--terminal-no", "GATE-LS-01")
    assert gate.exit_code == 0 and "private key" in gate.output
    catalogue = ykt("venue", "list")
    assert "laoshan-ticket" in catalogue.output and "scenic_spot" in catalogue.output


def test_bad_input_exits_non_zero_and_changes_nothing(world: World, ykt: Ykt) -> None:
    wrong = ykt("venue", "add", "zoo", "--name", "x", "--category", "park", "--operator", "nobody")
    assert wrong.exit_code != 0
    assert "zoo" not in ykt("venue", "list").output
    bad_day = ykt("venue", "entries", MUSEUM, "--day", "10/03/2025")
    assert bad_day.exit_code != 0


def test_the_entry_record_lists_every_scan(world: World, ykt: Ykt) -> None:
    rider = world.rider()
    world.ticket(rider)
    world.scan(card_no=rider.card_no)
    world.scan(card_no=rider.card_no)
    shown = ykt("venue", "entries", MUSEUM, "--day", "2025-03-10")
    assert shown.exit_code == 0, shown.output
    assert "2 scan(s), 1 admitted" in shown.output
