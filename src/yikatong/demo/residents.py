"""Synthetic but realistic residents of a demo city for demos and benchmarks (seeded,
deterministic): Qingdao by default, or Jinan or Zhengzhou for the demo league.

Residents come in households (couples, children, grandparents) spread over the city's
districts by population; ages follow the shape of China's 2020 census pyramid (about a fifth
60+); names come from common surnames (Shandong-heavy) and given names of each generation. Every
ID number is valid (GB 11643) and unique within one run. Generation streams: two million residents
need no more memory than twenty.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from yikatong.core.ids import age_on, make_resident_id
from yikatong.registry.importer import COLUMNS
from yikatong.registry.service import RelationType

# Reference date for ages: fixed so that one seed always gives the same people.
DEFAULT_AS_OF = dt.date(2025, 1, 1)


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    population: int  # 2020 census, in thousands: the weight of the district
    roads: tuple[str, ...]


DISTRICTS: tuple[District, ...] = (
    District("370202", "市南区", 510, ("香港中路", "东海西路", "南京路", "延安三路", "闽江路")),
    District("370203", "市北区", 1101, ("辽宁路", "台东一路", "延吉路", "敦化路", "福州北路")),
    District("370211", "黄岛区", 1904, ("长江中路", "井冈山路", "滨海大道", "珠江路")),
    District("370212", "崂山区", 558, ("松岭路", "海尔路", "深圳路", "株洲路")),
    District("370213", "李沧区", 735, ("京口路", "书院路", "九水路", "黑龙江中路")),
    District("370214", "城阳区", 1106, ("正阳路", "长城路", "春阳路", "兴阳路")),
    District("370215", "即墨区", 1348, ("蓝鳌路", "鹤山路", "烟青路", "振华街")),
    District("370281", "胶州市", 1005, ("澳门路", "福州支路", "扬州路", "常州路")),
    District("370283", "平度市", 1178, ("红旗路", "胜利路", "人民路", "杭州路")),
    District("370285", "莱西市", 734, ("威海路", "石岛路", "烟台路", "上海路")),
)
# Where residents born outside Qingdao were registered at birth: other Shandong cities first.
BIRTH_AREAS_ELSEWHERE = (
    "370102",  # 济南 历下
    "370602",  # 烟台 芝罘
    "370702",  # 潍坊 潍城
    "371002",  # 威海 环翠
    "371102",  # 日照 东港
    "371302",  # 临沂 兰山
    "410105",  # 郑州 金水
    "220102",  # 长春 南关
)


@dataclass(frozen=True, slots=True)
class Geography:
    """Where a demo city's residents live and where those born elsewhere were registered."""

    city_code: str
    province: str
    city: str
    districts: tuple[District, ...]
    born_elsewhere: tuple[str, ...]


QINGDAO = Geography("370200", "山东省", "青岛市", DISTRICTS, BIRTH_AREAS_ELSEWHERE)
JINAN = Geography(
    "370100",
    "山东省",
    "济南市",
    (
        District("370102", "历下区", 832, ("泉城路", "经十路", "解放路", "和平路", "文化东路")),
        District("370103", "市中区", 714, ("经四路", "纬二路", "英雄山路", "舜耕路")),
        District("370104", "槐荫区", 629, ("经七路", "营市街", "青年东路", "日月路")),
        District("370105", "天桥区", 742, ("北园大街", "堤口路", "济泺路", "无影山路")),
        District("370112", "历城区", 1247, ("山大南路", "二环东路", "花园路", "工业北路")),
        District("370113", "长清区", 622, ("大学路", "清河街", "峰山路", "海棠路")),
        District("370114", "章丘区", 1064, ("汇泉路", "明水路", "山泉路", "百脉泉路")),
    ),
    ("370202", "370203", "370602", "370702", "371302", "371402", "410105", "130102"),
)
ZHENGZHOU = Geography(
    "410100",
    "河南省",
    "郑州市",
    (
        District("410102", "中原区", 950, ("建设西路", "中原西路", "桐柏路", "嵩山路")),
        District("410103", "二七区", 820, ("大学路", "京广路", "航海中路", "嵩山南路")),
        District("410104", "管城回族区", 810, ("紫荆山路", "城东路", "商城路", "航海东路")),
        District("410105", "金水区", 1620, ("花园路", "经三路", "农业路", "东风路", "文化路")),
        District("410108", "惠济区", 560, ("天河路", "开元路", "英才街", "长兴路")),
        District("410122", "中牟县", 1000, ("青年路", "官渡大街", "解放路", "商都大道")),
    ),
    ("410202", "410302", "410402", "410702", "411102", "370102", "370202", "420102"),
)
GEOGRAPHIES: dict[str, Geography] = {g.city_code: g for g in (QINGDAO, JINAN, ZHENGZHOU)}


def geography_of(city_code: str) -> Geography:
    """The demo geography of ``city_code`` (Qingdao, Jinan or Zhengzhou)."""
    try:
        return GEOGRAPHIES[city_code]
    except KeyError:
        known = ", ".join(f"{g.city_code} {g.city}" for g in GEOGRAPHIES.values())
        raise ValueError(
            f"no demo residents for city {city_code}; the demo knows {known}"
        ) from None


# Qingdao's areas first, in their original order: the same seed keeps giving the same people.
_AREAS = tuple(
    dict.fromkeys(
        code
        for geography in (QINGDAO, JINAN, ZHENGZHOU)
        for code in (*(d.code for d in geography.districts), *geography.born_elsewhere)
    )
)
_AREA_INDEX = {code: index for index, code in enumerate(_AREAS)}

# China 2020 census, share (‰) of each five-year age group 0–4 … 90–99.
AGE_PYRAMID: tuple[tuple[int, int], ...] = (
    (0, 57), (5, 65), (10, 63), (15, 53), (20, 53), (25, 65), (30, 88), (35, 70), (40, 66),
    (45, 83), (50, 87), (55, 72), (60, 52), (65, 50), (70, 34), (75, 22), (80, 14), (85, 7),
    (90, 2),
)  # fmt: skip

SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 100), ("张", 86), ("李", 80), ("刘", 78), ("孙", 38), ("杨", 32), ("陈", 30),
    ("赵", 28), ("徐", 24), ("高", 22), ("于", 22), ("马", 18), ("董", 16), ("姜", 16),
    ("宋", 14), ("郭", 14), ("周", 12), ("吴", 10), ("林", 10), ("曲", 9), ("韩", 9),
    ("胡", 8), ("朱", 8), ("崔", 8), ("隋", 6), ("薛", 6), ("宫", 5), ("矫", 4), ("纪", 5),
    ("修", 4), ("栾", 4), ("臧", 4), ("逄", 3), ("黄", 6), ("解", 3), ("毛", 3),
)  # fmt: skip

# Given-name characters by generation (born before 1960, 1960–1989, 1990 and later) and sex.
_GIVEN: dict[tuple[int, str], tuple[str, ...]] = {
    (0, "M"): tuple("建国庆卫东华明德福贵永祥志忠军成山海林春顺发"),
    (0, "F"): tuple("秀英兰桂珍凤淑玉芳华翠荣梅香琴云霞莲萍"),
    (1, "M"): tuple("伟强磊军勇杰涛斌超明刚平辉鹏华飞波峰亮健"),
    (1, "F"): tuple("丽娜敏静艳娟霞燕红玲晶芳慧颖洁丹琳雪梅"),
    (2, "M"): tuple("浩宇轩子涵博文睿泽然皓铭俊熙一辰晨阳鑫杰"),
    (2, "F"): tuple("欣怡梓涵诗琪雨萱悦佳思彤可馨若语嘉妍晴"),
}
_PHONE_PREFIXES = tuple(
    [
        "130",
        "131",
        "132",
        "133",
        "135",
        "136",
        "137",
        "138",
        "139",
        "150",
        "151",
        "152",
        "153",
        "155",
        "156",
        "157",
        "158",
        "159",
        "176",
        "177",
        "178",
        "180",
        "181",
        "182",
        "183",
        "185",
        "186",
        "187",
        "188",
        "189",
        "198",
        "199",
    ]
)
# Issuer prefixes of debit cards of the big banks used for payouts (ABC, CCB, ICBC, BOC, Rural).
_BANK_BINS = ("622848", "621700", "622202", "621661", "623059")


class Role:
    """A member's place in the household, as the loader needs it to draw relations."""

    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"  # child of the head (and of the spouse)
    PARENT = "parent"  # parent of the head


@dataclass(frozen=True, slots=True)
class GeneratedResident:
    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    phone: str | None
    address: str
    district_code: str
    household_no: str
    role: str
    bank_account: str | None
    disabled: bool
    veteran: bool
    student: bool
    low_income: bool

    def csv_row(self) -> list[str]:
        """The row in the import format (:data:`CSV_HEADER`)."""
        return [
            self.id_number,
            self.name,
            self.phone or "",
            self.address,
            self.district_code,
            self.household_no,
            self.bank_account or "",
            *("1" if flag else "0" for flag in self.flags),
        ]

    @property
    def flags(self) -> tuple[bool, bool, bool, bool]:
        return (self.disabled, self.veteran, self.student, self.low_income)


# The rows are in the registry import format.
CSV_HEADER: tuple[str, ...] = COLUMNS

_EPOCH = dt.date(1900, 1, 1)
_DAYS = (DEFAULT_AS_OF - _EPOCH).days + 3 * 366 * 10  # room for later reference dates


def _luhn_complete(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


class _Population:
    """One seeded generation run: the random stream and the ID-number order counters."""

    def __init__(self, seed: int, as_of: dt.date, geography: Geography = QINGDAO) -> None:
        self.rng = random.Random(seed)
        self.geography = geography
        self.as_of = as_of
        # Order codes used per (birth area, birth date, sex): 2 bytes each, a few MB in all,
        # whatever the number of residents.
        self.orders = array("H", bytes(2 * len(_AREAS) * _DAYS * 2))
        self.household_seq = 0
        district_weights = [d.population for d in geography.districts]
        self._district_cum = _cumulative(district_weights)
        self._surname_cum = _cumulative([w for _, w in SURNAMES])
        adults = [(start, weight) for start, weight in AGE_PYRAMID if start >= 20]
        self._adult_starts = [start for start, _ in adults]
        self._adult_cum = _cumulative([weight for _, weight in adults])

    # -- people --------------------------------------------------------------------------------

    def district(self) -> District:
        return self.geography.districts[self._pick(self._district_cum)]

    def surname(self) -> str:
        return SURNAMES[self._pick(self._surname_cum)][0]

    def _pick(self, cumulative: list[int]) -> int:
        point = self.rng.random() * cumulative[-1]
        low, high = 0, len(cumulative) - 1
        while low < high:
            middle = (low + high) // 2
            if cumulative[middle] > point:
                high = middle
            else:
                low = middle + 1
        return low

    def adult_age(self) -> int:
        """Age of a household head: the adult part of the census pyramid."""
        return self._adult_starts[self._pick(self._adult_cum)] + self.rng.randrange(5)

    def birth_date(self, age: int) -> dt.date:
        days = int((age + self.rng.random()) * 365.2425)
        return self.as_of - dt.timedelta(days=max(days, 1))

    def given_name(self, birth: dt.date, sex: str) -> str:
        era = 0 if birth.year < 1960 else 1 if birth.year < 1990 else 2
        pool = _GIVEN[(era, sex)]
        if self.rng.random() < 0.25:
            return self.rng.choice(pool)
        return self.rng.choice(pool) + self.rng.choice(pool)

    def id_number(self, district: District, birth: dt.date, sex: str) -> str:
        elsewhere = self.geography.born_elsewhere
        area = district.code if self.rng.random() < 0.8 else self.rng.choice(elsewhere)
        sex_bit = 1 if sex == "M" else 0
        while True:
            slot = ((_AREA_INDEX[area] * _DAYS + (birth - _EPOCH).days) << 1) | sex_bit
            used = self.orders[slot]
            if used < 500:
                break
            birth += dt.timedelta(days=1)  # 500 people of one sex born that day there: next day
        self.orders[slot] = used + 1
        # Spread order codes over 000–999 like real ones, keeping the sex parity (odd = male).
        order = 2 * ((slot * 37 + used) % 500) + sex_bit
        return make_resident_id(area, birth, order)

    def person(
        self,
        district: District,
        household_no: str,
        address: str,
        role: str,
        *,
        age: int,
        sex: str,
        surname: str,
        low_income: bool,
    ) -> GeneratedResident:
        rng = self.rng
        birth = self.birth_date(age)
        number = self.id_number(district, birth, sex)
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        age = age_on(birth, self.as_of)  # the completed age decides phone, account and flags
        phone = None
        if age >= 14 and rng.random() < (0.95 if age < 75 else 0.6):
            phone = rng.choice(_PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        bank_account = None
        if age >= 16 and rng.random() < 0.85:
            bank_account = _luhn_complete(rng.choice(_BANK_BINS) + f"{rng.randrange(10**12):012d}")
        disabled_rate = 0.01 if age < 18 else 0.04 if age < 60 else 0.10 if age < 80 else 0.2
        veteran_rate = (0.05 if sex == "M" else 0.003) if age >= 38 else 0.0
        student_rate = 0.98 if 6 <= age <= 18 else 0.55 if 19 <= age <= 22 else 0.0
        return GeneratedResident(
            id_number=number,
            name=surname + self.given_name(birth, sex),
            sex=sex,
            birth_date=birth,
            phone=phone,
            address=address,
            district_code=district.code,
            household_no=household_no,
            role=role,
            bank_account=bank_account,
            disabled=rng.random() < disabled_rate,
            veteran=rng.random() < veteran_rate,
            student=rng.random() < student_rate,
            low_income=low_income,
        )

    # -- households ----------------------------------------------------------------------------

    def household(self) -> list[GeneratedResident]:
        """A household: head, maybe a spouse, children, and the head's parents."""
        rng = self.rng
        district = self.district()
        self.household_seq += 1
        household_no = f"{district.code}{self.household_seq:09d}"
        address = (
            f"{self.geography.province}{self.geography.city}{district.name}"
            f"{rng.choice(district.roads)}{rng.randrange(1, 300)}号"
            f"{rng.randrange(1, 30)}号楼{rng.randrange(1, 5)}单元{rng.randrange(1, 33)}"
            f"{rng.randrange(1, 5):02d}室"
        )
        low_income = rng.random() < 0.03
        head_age = self.adult_age()
        head_sex = "M" if rng.random() < 0.7 else "F"
        surname = self.surname()

        def member(role: str, age: int, sex: str, family_name: str) -> GeneratedResident:
            return self.person(
                district,
                household_no,
                address,
                role,
                age=age,
                sex=sex,
                surname=family_name,
                low_income=low_income,
            )

        members = [member(Role.HEAD, head_age, head_sex, surname)]
        partnered = rng.random() < (0.45 if head_age < 28 else 0.85 if head_age < 75 else 0.55)
        youngest_parent = head_age
        if partnered:
            spouse_age = max(20, head_age + rng.randint(-5, 3) * (1 if head_sex == "M" else -1))
            spouse_sex = "F" if head_sex == "M" else "M"
            members.append(member(Role.SPOUSE, spouse_age, spouse_sex, self.surname()))
            youngest_parent = min(head_age, spouse_age)
        # Children still living at home: up to two, the eldest born when the parents were 22–35.
        if 22 <= youngest_parent <= 62 and rng.random() < 0.85:
            eldest = youngest_parent - rng.randint(22, 35)
            if eldest >= 0:
                count = 1 if rng.random() < 0.5 or eldest < 3 else 2
                father = members[0] if head_sex == "M" or not partnered else members[1]
                child_surname = father.name[0]
                for index in range(count):
                    age = eldest - index * rng.randint(2, 6)
                    if age < 0:
                        break
                    members.append(member(Role.CHILD, age, rng.choice("MF"), child_surname))
        # Three generations under one roof: the head's parents (祖辈同住).
        if 28 <= head_age <= 55 and rng.random() < 0.3:
            father_age = min(head_age + rng.randint(24, 34), 99)
            members.append(member(Role.PARENT, father_age, "M", surname))
            if rng.random() < 0.75:
                mother_age = max(father_age - rng.randint(0, 4), head_age + 20)
                members.append(member(Role.PARENT, mother_age, "F", self.surname()))
        return members


def _cumulative(weights: Sequence[int]) -> list[int]:
    total, out = 0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def generate_households(
    count: int, seed: int = 2024, *, as_of: dt.date = DEFAULT_AS_OF, city_code: str = "370200"
) -> Iterator[list[GeneratedResident]]:
    """Households until ``count`` residents in all (the last one may be cut short)."""
    if count < 0:
        raise ValueError("count must not be negative")
    population = _Population(seed, as_of, geography_of(city_code))
    remaining = count
    while remaining > 0:
        members = population.household()[:remaining]
        remaining -= len(members)
        yield members


def generate_residents(
    count: int, seed: int = 2024, *, as_of: dt.date = DEFAULT_AS_OF, city_code: str = "370200"
) -> Iterator[GeneratedResident]:
    """``count`` synthetic residents, household by household (members of one household are
    consecutive and share ``household_no``)."""
    for household in generate_households(count, seed, as_of=as_of, city_code=city_code):
        yield from household


def household_relations(
    household: Sequence[GeneratedResident],
) -> list[tuple[str, str, RelationType]]:
    """Family links inside one household as (resident ID number, relative ID number, what the
    relative is to the resident); each link once, its inverse is for the registry to store."""
    heads = [m for m in household if m.role == Role.HEAD]
    spouses = [m for m in household if m.role == Role.SPOUSE]
    children = [m for m in household if m.role == Role.CHILD]
    parents = [m for m in household if m.role == Role.PARENT]
    links: list[tuple[str, str, RelationType]] = []
    for head in heads:
        links.extend((head.id_number, s.id_number, RelationType.SPOUSE) for s in spouses)
        links.extend((head.id_number, p.id_number, RelationType.PARENT) for p in parents)
    for child in children:
        links.extend((p.id_number, child.id_number, RelationType.CHILD) for p in heads + spouses)
        links.extend((child.id_number, g.id_number, RelationType.GRANDPARENT) for g in parents)
    for index, child in enumerate(children):
        links.extend(
            (child.id_number, other.id_number, RelationType.SIBLING)
            for other in children[index + 1 :]
        )
    if len(parents) == 2:
        links.append((parents[0].id_number, parents[1].id_number, RelationType.SPOUSE))
    return links


def write_csv(
    path: Path,
    count: int,
    seed: int = 2024,
    *,
    as_of: dt.date = DEFAULT_AS_OF,
    city_code: str = "370200",
) -> int:
    """Write ``count`` residents in the import format; returns the number of rows written."""
    written = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for resident in generate_residents(count, seed, as_of=as_of, city_code=city_code):
            writer.writerow(resident.csv_row())
            written += 1
    return written
