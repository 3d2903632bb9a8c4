"""Demo residents of the league's cities live in their own city: Jinan's in Jinan's districts,
Zhengzhou's in Zhengzhou's; Qingdao's people are the same as before the league existed."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from yikatong.core.ids import parse_resident_id
from yikatong.demo.residents import GEOGRAPHIES, generate_residents, geography_of

SAMPLE = 3_000


@pytest.mark.parametrize(
    ("city_code", "address_prefix"),
    [("370200", "山东省青岛市"), ("370100", "山东省济南市"), ("410100", "河南省郑州市")],
)
def test_residents_live_in_their_citys_districts(city_code: str, address_prefix: str) -> None:
    districts = {d.code for d in geography_of(city_code).districts}
    people = list(generate_residents(SAMPLE, seed=3, city_code=city_code))
    assert {p.district_code for p in people} == districts
    assert all(p.address.startswith(address_prefix) for p in people)
    for person in people:
        parse_resident_id(person.id_number)  # raises on an invalid number
    assert len({p.id_number for p in people}) == SAMPLE
    # Four in five were registered at birth in the district they live in (GB 11643 area code).
    born_here = Counter(p.id_number[:6] in districts for p in people)
    assert born_here[True] / SAMPLE > 0.7


def test_qingdao_people_are_unchanged_by_the_other_cities() -> None:
    # The first 2,000 residents of seed 2024 as generated before Jinan and Zhengzhou were added.
    rows = "\n".join(",".join(p.csv_row()) for p in generate_residents(2_000, seed=2024))
    assert hashlib.sha256(rows.encode()).hexdigest() == QINGDAO_2024_DIGEST


def test_a_city_without_demo_geography_is_refused() -> None:
    with pytest.raises(ValueError, match="no demo residents for city 110100"):
        list(generate_residents(1, city_code="110100"))
    assert sorted(GEOGRAPHIES) == ["370100", "370200", "410100"]


QINGDAO_2024_DIGEST = "31b85507fecc38573140d7a0de3386f30792855ae0bfccbbb0191afa4bc561c9"
