"""Synthetic Kota Jambi registers for demos and tests.

Every name is drawn by combining a given-name list with a family-name list, so no row
describes a real person. NIK and KK numbers are structurally valid for
issuance.register and unique within one generated register. write_register is
issuance.register.write_register, exported here as well for callers of the generator.

write_synthetic_register() also writes the optional PEKERJAAN and SEKOLAH
columns that the server's register import reads: school-age children get a
school level, and some household heads and wives are RT heads, Quran teachers
or street cleaners, so the scholarship and BPJS Ketenagakerjaan programmes
find entitled residents. These columns come from a random generator seeded
with the seed and the NIK, so the residents themselves are the same as
generate_register() returns for that seed.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from issuance import regions
from issuance.register import MAX_NAME_LENGTH, Resident, write_register

__all__ = [
    "DEFAULT_AS_OF", "generate_register", "write_register", "write_synthetic_register", "work_and_school",
    "add_commands",
]

# Reference date for ages and KK issue dates, fixed so that a seed gives the same
# register on any day.
DEFAULT_AS_OF = date(2025, 7, 1)

# A register of at least this many rows contains one name of exactly MAX_NAME_LENGTH
# characters, the longest that the card face must fit.
LONG_NAME_MIN_ROWS = 200

MALE_GIVEN_NAMES = (
    "AHMAD", "ARIF", "BAMBANG", "BUDI", "DEDI", "DIMAS", "EKO", "FAJAR", "FIRMAN", "HADI",
    "HENDRA", "IRWAN", "JOKO", "KURNIA", "LUKMAN", "MUHAMMAD", "NANDA", "RAHMAT", "RIZKY",
    "SAIFUL", "SYAHRUL", "TAUFIK", "WAHYU", "YUSUF", "ZULKIFLI", "ANDI", "ILHAM", "REZA",
)
FEMALE_GIVEN_NAMES = (
    "AISYAH", "ANISA", "AYU", "DEWI", "DIAN", "EKA", "FITRI", "HALIMAH", "INDAH", "KARTIKA",
    "LESTARI", "MAYA", "NUR", "NURHASANAH", "PUTRI", "RAHMAWATI", "RATNA", "SARI", "SITI",
    "SRI", "TRI", "WULANDARI", "YULIANTI", "ZAHRA", "MELATI", "NOVITA", "RINA", "SUSANTI",
)
FAMILY_NAMES = (
    "SAPUTRA", "PRATAMA", "HIDAYAT", "KURNIAWAN", "SETIAWAN", "NUGROHO", "RAHMAN", "HAKIM",
    "SIREGAR", "NASUTION", "LUBIS", "HARAHAP", "SIMANJUNTAK", "HASIBUAN", "PANGGABEAN",
    "SANTOSO", "WIBOWO", "PRASETYO", "SURYADI", "FIRDAUS", "MAULANA", "ANWAR", "SYAHPUTRA",
    "GUNAWAN", "HALIM", "MARPAUNG", "TANJUNG", "PANJAITAN", "SITOMPUL", "RANGKUTI",
)
STREET_NAMES = (
    "KENANGA", "MELATI", "MAWAR", "CEMPAKA", "ANGGREK", "MERPATI", "RAJAWALI", "KUTILANG",
    "PATTIMURA", "DIPONEGORO", "SUDIRMAN", "KARTINI", "PERINTIS", "SEPAKAT", "BERINGIN",
    "PINANG MERAH", "SENTOSA", "BAHAGIA", "SEJAHTERA", "PERSATUAN", "LORONG PELITA",
)

# Share of households per DTSEN desil 1..10: the register mostly lists poorer households.
DESIL_WEIGHTS = (18, 17, 16, 14, 12, 8, 6, 4, 3, 2)

EARLIEST_KK_ISSUE = date(2005, 1, 1)

OCCUPATION_COLUMN, SCHOOL_COLUMN = "PEKERJAAN", "SEKOLAH"
# Occupations of working adults with weights. The first three are those that the
# BPJS Ketenagakerjaan programme covers, at about 4 % each.
ADULT_OCCUPATIONS = (
    ("KETUA RT", 4), ("GURU NGAJI", 4), ("PETUGAS KEBERSIHAN", 4), ("BURUH HARIAN LEPAS", 30),
    ("PEDAGANG", 20), ("WIRASWASTA", 15), ("PETANI/PEKEBUN", 10), ("SOPIR", 8), ("NELAYAN", 5),
)
# School level by age, with the share of children of that age who attend.
SCHOOL_BY_AGE = ((7, 12, ("SD",), 0.97), (13, 15, ("SMP",), 0.9), (16, 18, ("SMA", "SMK"), 0.75),
                 (19, 24, ("PT",), 0.2))


def generate_register(count: int, seed: int, *, as_of: date = DEFAULT_AS_OF) -> list[Resident]:
    """Generate count residents in households of 2-6 members, deterministic for (count, seed, as_of).

    A household has a head, usually a wife, children, and sometimes a grandparent listed
    as FAMILI LAIN. The last household may be cut short so that exactly count rows come
    out, and a count of 1 gives a single head.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    rng = random.Random(seed)
    serials: Counter[str] = Counter()
    residents: list[Resident] = []
    while len(residents) < count:
        size = _household_size(rng, count - len(residents))
        residents.extend(_household(rng, size, as_of, serials))
    if count >= LONG_NAME_MIN_ROWS:
        _give_long_name(rng, residents)
    return residents


def work_and_school(resident: Resident, seed: int, as_of: date = DEFAULT_AS_OF) -> tuple[str, str]:
    """Return the PEKERJAAN and SEKOLAH cells of a generated resident, each "" when it has none."""
    rng = random.Random(f"{seed}:{resident.nik}")
    age = _age(resident.birth_date, as_of)
    school = ""
    if resident.relationship == "ANAK":
        for youngest, oldest, levels, attending in SCHOOL_BY_AGE:
            if youngest <= age <= oldest and rng.random() < attending:
                school = rng.choice(levels)
    if school:
        return "PELAJAR/MAHASISWA", school
    if age < 18:
        return "BELUM/TIDAK BEKERJA", ""
    if resident.relationship == "ISTRI" and rng.random() < 0.7:
        return "MENGURUS RUMAH TANGGA", ""
    if age >= 65 or resident.relationship == "FAMILI LAIN":
        return "BELUM/TIDAK BEKERJA", ""
    names, weights = zip(*ADULT_OCCUPATIONS)
    return rng.choices(names, weights=weights)[0], ""


def write_synthetic_register(residents: list[Resident], path: str | Path, seed: int,
                             as_of: date = DEFAULT_AS_OF) -> None:
    """Write generated residents with the PEKERJAAN and SEKOLAH columns, with file mode 0600."""
    write_register(residents, path, extra_columns=(OCCUPATION_COLUMN, SCHOOL_COLUMN),
                   extra_cells=lambda resident: work_and_school(resident, seed, as_of))


def _household_size(rng: random.Random, remaining: int) -> int:
    size = rng.randint(2, 6)
    if remaining - size == 1:
        # Never leave one row over for a last household of one.
        size = size + 1 if size < 6 else size - 1
    return min(size, remaining)


def _household(rng: random.Random, size: int, as_of: date, serials: Counter[str]) -> list[Resident]:
    kelurahan = rng.choice(regions.KELURAHAN)
    family_name = rng.choice(FAMILY_NAMES)
    address = f"JL. {rng.choice(STREET_NAMES)} NO. {rng.randint(1, 150)} RT {rng.randint(1, 45):03d}"
    desil = rng.choices(range(1, 11), weights=DESIL_WEIGHTS)[0]

    head_sex = "L" if rng.random() < 0.85 else "P"
    head_birth = _birth_date(rng, as_of, 25, 75)
    head_age = _age(head_birth, as_of)
    members = [("KEPALA KELUARGA", head_sex, head_birth, family_name)]
    # The oldest child is at least 18 years younger than the mother.
    max_child_age = head_age - 20 if head_sex == "L" else head_age - 18
    if head_sex == "L" and size >= 2 and rng.random() < 0.9:
        wife_birth = _birth_date(rng, as_of, max(20, head_age - 8), head_age + 2)
        members.append(("ISTRI", "P", wife_birth, rng.choice(FAMILY_NAMES)))
        max_child_age = min(max_child_age, _age(wife_birth, as_of) - 18)
    if len(members) < size and size >= 3 and head_age <= 60 and rng.random() < 0.2:
        grandparent_birth = _birth_date(rng, as_of, head_age + 20, min(head_age + 35, 95))
        members.append(("FAMILI LAIN", rng.choice("LP"), grandparent_birth, rng.choice(FAMILY_NAMES)))
    while len(members) < size:
        child_birth = _birth_date(rng, as_of, 0, max(0, min(max_child_age, 30)))
        members.append(("ANAK", rng.choice("LP"), child_birth, family_name))

    kk_issued = _random_date(rng, max(EARLIEST_KK_ISSUE, _add_years(head_birth, 18)), as_of)
    kk = _numbered(kelurahan.kecamatan_code + _ddmmyy(kk_issued, 0), serials)
    residents = []
    for relationship, sex, birth_date, surname in members:
        day_offset = 40 if sex == "P" else 0
        nik = _numbered(kelurahan.kecamatan_code + _ddmmyy(birth_date, day_offset), serials)
        given_names = FEMALE_GIVEN_NAMES if sex == "P" else MALE_GIVEN_NAMES
        given_name = rng.choice(given_names)
        if rng.random() < 0.3:
            given_name = f"{given_name} {rng.choice(given_names)}"
        residents.append(
            Resident(
                nik=nik,
                kk=kk,
                name=f"{given_name} {surname}",
                birth_date=birth_date,
                sex=sex,
                address=address,
                kelurahan=kelurahan.name,
                kelurahan_code=kelurahan.code,
                kecamatan=kelurahan.kecamatan.name,
                desil=desil,
                relationship=relationship,
            )
        )
    return residents


def _numbered(prefix: str, serials: Counter[str]) -> str:
    """Append the next unused 4-digit serial (from 0001) for this 12-digit prefix."""
    serials[prefix] += 1
    if serials[prefix] > 9999:
        raise ValueError(f"more than 9999 numbers share the prefix {prefix}")
    return f"{prefix}{serials[prefix]:04d}"


def _ddmmyy(day: date, day_offset: int) -> str:
    return f"{day.day + day_offset:02d}{day.month:02d}{day.year % 100:02d}"


def _age(birth_date: date, as_of: date) -> int:
    return as_of.year - birth_date.year - ((as_of.month, as_of.day) < (birth_date.month, birth_date.day))


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def _random_date(rng: random.Random, earliest: date, latest: date) -> date:
    if latest <= earliest:
        return latest
    return earliest + timedelta(days=rng.randint(0, (latest - earliest).days))


def _birth_date(rng: random.Random, as_of: date, min_age: int, max_age: int) -> date:
    """Pick a birth date for an age in [min_age, max_age] years on as_of."""
    latest = _add_years(as_of, -min_age)
    earliest = _add_years(as_of, -(max_age + 1)) + timedelta(days=1)
    return _random_date(rng, earliest, latest)


def _give_long_name(rng: random.Random, residents: list[Resident]) -> None:
    """Rename one household head to a name of exactly MAX_NAME_LENGTH characters."""
    heads = [index for index, resident in enumerate(residents) if resident.relationship == "KEPALA KELUARGA"]
    index = rng.choice(heads)
    head = residents[index]
    residents[index] = replace(head, name=_long_name(rng, head.sex, MAX_NAME_LENGTH))


def _long_name(rng: random.Random, sex: str, length: int) -> str:
    """Build three given names followed by family names, exactly length characters long."""
    given_names = FEMALE_GIVEN_NAMES if sex == "P" else MALE_GIVEN_NAMES
    while True:
        words = rng.sample(given_names, 3)
        unused = list(FAMILY_NAMES)
        while unused:
            remaining = length - len(" ".join(words)) - 1
            exact = [name for name in unused if len(name) == remaining]
            if exact:
                return " ".join(words + [rng.choice(exact)])
            # Leave room for at least one more family name of 4 or more letters.
            fitting = [name for name in unused if len(name) <= remaining - 5]
            if not fitting:
                break
            name = rng.choice(fitting)
            words.append(name)
            unused.remove(name)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the generate-register command, with its function as the parser default `handler`."""
    parser = subparsers.add_parser(
        "generate-register",
        help="write a synthetic Kota Jambi register CSV for demos and tests",
        description="Write a synthetic Kota Jambi register CSV. No row describes a real person.",
    )
    parser.add_argument("--count", type=_positive_int, required=True, help="number of residents (rows) to write")
    parser.add_argument("--seed", type=int, required=True, help="random seed, the same seed gives the same register")
    parser.add_argument("--out", type=Path, required=True, help="path of the CSV file to write")
    parser.set_defaults(handler=_run_generate_register)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _run_generate_register(args: argparse.Namespace) -> int:
    residents = generate_register(args.count, args.seed)
    write_synthetic_register(residents, args.out, args.seed)
    households = len({resident.kk for resident in residents})
    # `kartu --lang` sets args.lang to "id" or "en".
    if getattr(args, "lang", "id") == "en":
        print(f"Wrote {len(residents)} synthetic residents in {households} households to {args.out}.")
    else:
        print(f"{len(residents)} penduduk sintetis dalam {households} keluarga ditulis ke {args.out}.")
    return 0
