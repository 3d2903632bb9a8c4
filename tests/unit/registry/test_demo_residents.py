"""The synthetic Qingdao population: deterministic, valid, shaped like the census pyramid."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from pathlib import Path

import pytest

from yikatong.core.ids import age_on, parse_resident_id
from yikatong.demo.residents import (
    CSV_HEADER,
    DEFAULT_AS_OF,
    DISTRICTS,
    generate_households,
    generate_residents,
    household_relations,
    write_csv,
)
from yikatong.registry.importer import COLUMNS, parse_row
from yikatong.registry.service import RelationType, validate_resident

SAMPLE = 20_000


@pytest.fixture(scope="module")
def sample() -> list:
    return list(generate_residents(SAMPLE))


def test_same_seed_gives_the_same_people() -> None:
    assert list(generate_residents(500, seed=7)) == list(generate_residents(500, seed=7))


def test_another_seed_gives_other_people() -> None:
    first = [r.id_number for r in generate_residents(200, seed=1)]
    second = [r.id_number for r in generate_residents(200, seed=2)]
    assert first != second


def test_exactly_count_residents(sample: list) -> None:
    assert len(sample) == SAMPLE


def test_every_id_number_is_valid_and_matches_sex_and_birth(sample: list) -> None:
    for resident in sample:
        parsed = parse_resident_id(resident.id_number)
        assert (parsed.sex, parsed.birth_date) == (resident.sex, resident.birth_date)


def test_id_numbers_are_unique(sample: list) -> None:
    assert len({r.id_number for r in sample}) == SAMPLE


def test_every_resident_lives_in_a_qingdao_district(sample: list) -> None:
    codes = {d.code for d in DISTRICTS}
    assert {r.district_code for r in sample} == codes


def test_districts_follow_population(sample: list) -> None:
    counts = Counter(r.district_code for r in sample)
    # 黄岛区 (1.9M) is the most populous district, 市南区 (0.5M) the least.
    assert counts.most_common(1)[0][0] == "370211"
    assert min(counts, key=lambda code: counts[code]) == "370202"


def test_age_pyramid_is_roughly_that_of_qingdao(sample: list) -> None:
    ages = [age_on(r.birth_date, DEFAULT_AS_OF) for r in sample]
    share = lambda low, high=200: sum(low <= a < high for a in ages) / len(ages)  # noqa: E731
    assert 0.17 <= share(60) <= 0.28  # 2020: about a fifth are 60+
    assert 0.07 <= share(70) <= 0.14
    assert 0.12 <= share(0, 18) <= 0.25
    assert 0.50 <= share(18, 60) <= 0.68
    assert max(ages) <= 104


def test_flags_have_plausible_shares(sample: list) -> None:
    share = lambda flag: sum(getattr(r, flag) for r in sample) / SAMPLE  # noqa: E731
    assert 0.03 <= share("disabled") <= 0.08
    assert 0.005 <= share("veteran") <= 0.03
    assert 0.08 <= share("student") <= 0.2
    assert 0.01 <= share("low_income") <= 0.06


def test_students_are_of_school_age(sample: list) -> None:
    assert all(6 <= age_on(r.birth_date, DEFAULT_AS_OF) <= 22 for r in sample if r.student)


def test_household_members_share_household_number_and_address() -> None:
    for household in itertools.islice(generate_households(5000), 1000):
        assert len({(m.household_no, m.address, m.district_code) for m in household}) == 1


def test_household_relations_respect_ages_and_name_real_members() -> None:
    older = {RelationType.PARENT, RelationType.GRANDPARENT}
    younger = {RelationType.CHILD, RelationType.GRANDCHILD}
    kinds: Counter[RelationType] = Counter()
    for household in generate_households(5000):
        births = {m.id_number: m.birth_date for m in household}
        for resident, relative, relation in household_relations(household):
            assert resident != relative and resident in births and relative in births
            if relation in older:
                assert births[relative] < births[resident]
            if relation in younger:
                assert births[relative] > births[resident]
            kinds[relation] += 1
    assert {RelationType.SPOUSE, RelationType.CHILD, RelationType.PARENT} <= set(kinds)
    assert {RelationType.SIBLING, RelationType.GRANDPARENT} <= set(kinds)


def test_csv_is_in_the_import_format_and_every_row_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "residents.csv"
    assert write_csv(path, 300, seed=3) == 300
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CSV_HEADER == COLUMNS
        rows = list(reader)
    assert len(rows) == 300
    for row in rows:
        validate_resident(parse_row(row))
