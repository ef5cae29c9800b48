"""Kecamatan and kelurahan of Kota Jambi (region code 1571), with lookups by code and by name.

A kecamatan code has 6 digits: province 15, city 71, then the kecamatan number. A
kelurahan code has 10 digits: the kecamatan code, "1" (the Kemendagri prefix for a
kelurahan, where "2" would mean a desa), then a 3-digit number.

NOTE: the 62 kelurahan names are the kelurahan of Kota Jambi after Alam Barajo, Danau
Sipin and Paal Merah were split off, compared only with public listings and not with
the Kemendagri code list. The kecamatan numbers follow the order given in this project's requirements, and the
kelurahan numbers are assigned alphabetically within each kecamatan. Neither has been
checked against the Kemendagri code list, so do not exchange these codes with other
systems until someone has checked them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CITY_CODE",
    "Kecamatan",
    "Kelurahan",
    "KECAMATAN",
    "KELURAHAN",
    "RegionNotFoundError",
    "kecamatan_by_code",
    "kecamatan_by_name",
    "kelurahan_by_code",
    "kelurahan_by_name",
    "kelurahan_of",
]

CITY_CODE = "1571"


@dataclass(frozen=True)
class Kecamatan:
    code: str
    name: str


@dataclass(frozen=True)
class Kelurahan:
    code: str
    name: str
    kecamatan_code: str

    @property
    def kecamatan(self) -> Kecamatan:
        return kecamatan_by_code(self.kecamatan_code)


class RegionNotFoundError(KeyError):
    """No kecamatan or kelurahan of Kota Jambi has the given code or name."""

    def __str__(self) -> str:
        # KeyError.__str__ would print the message in quotes.
        return str(self.args[0])


# Kecamatan number and name, then its kelurahan in alphabetical order.
_TABLE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("01", "Kota Baru", ("Kenali Asam Atas", "Kenali Asam Bawah", "Paal Lima", "Simpang III Sipin", "Suka Karya")),
    ("02", "Jambi Selatan", ("Pakuan Baru", "Pasir Putih", "Tambak Sari", "The Hok", "Wijaya Pura")),
    (
        "03",
        "Jelutung",
        ("Cempaka Putih", "Handil Jaya", "Jelutung", "Kebun Handil", "Lebak Bandung", "Payo Lebar", "Talang Jauh"),
    ),
    ("04", "Pasar Jambi", ("Beringin", "Orang Kayo Hitam", "Pasar Jambi", "Sungai Asam")),
    (
        "05",
        "Telanaipura",
        ("Buluran Kenali", "Pematang Sulur", "Penyengat Rendah", "Simpang IV Sipin", "Telanaipura", "Teluk Kenali"),
    ),
    ("06", "Danau Teluk", ("Olak Kemang", "Pasir Panjang", "Tanjung Pasir", "Tanjung Raden", "Ulu Gedong")),
    ("07", "Pelayangan", ("Arab Melayu", "Jelmu", "Mudung Laut", "Tahtul Yaman", "Tanjung Johor", "Tengah")),
    (
        "08",
        "Jambi Timur",
        (
            "Budiman",
            "Kasang",
            "Kasang Jaya",
            "Rajawali",
            "Sijenjang",
            "Sulanjana",
            "Talang Banjar",
            "Tanjung Pinang",
            "Tanjung Sari",
        ),
    ),
    ("09", "Alam Barajo", ("Bagan Pete", "Beliung", "Kenali Besar", "Mayang Mangurai", "Rawasari")),
    ("10", "Danau Sipin", ("Legok", "Murni", "Selamat", "Solok Sipin", "Sungai Putri")),
    ("11", "Paal Merah", ("Eka Jaya", "Lingkar Selatan", "Paal Merah", "Payo Selincah", "Talang Bakung")),
)

# Spellings that registers and forms use for the same kelurahan.
_KELURAHAN_ALIASES = {
    "simpang tiga sipin": "Simpang III Sipin",
    "simpang empat sipin": "Simpang IV Sipin",
    "sukakarya": "Suka Karya",
    "sejinjang": "Sijenjang",
    "rawa sari": "Rawasari",
    "thehok": "The Hok",
}


def _build_tables() -> tuple[tuple[Kecamatan, ...], tuple[Kelurahan, ...]]:
    kecamatan_list = []
    kelurahan_list = []
    for number, name, kelurahan_names in _TABLE:
        kecamatan = Kecamatan(code=CITY_CODE + number, name=name)
        kecamatan_list.append(kecamatan)
        for index, kelurahan_name in enumerate(kelurahan_names, start=1):
            code = f"{kecamatan.code}1{index:03d}"
            kelurahan_list.append(Kelurahan(code=code, name=kelurahan_name, kecamatan_code=kecamatan.code))
    return tuple(kecamatan_list), tuple(kelurahan_list)


KECAMATAN, KELURAHAN = _build_tables()


def _name_key(name: str) -> str:
    """Fold case and runs of whitespace, so "KENALI  ASAM bawah" finds "Kenali Asam Bawah"."""
    return " ".join(name.split()).casefold()


_KECAMATAN_BY_CODE = {kecamatan.code: kecamatan for kecamatan in KECAMATAN}
_KECAMATAN_BY_NAME = {_name_key(kecamatan.name): kecamatan for kecamatan in KECAMATAN}
_KELURAHAN_BY_CODE = {kelurahan.code: kelurahan for kelurahan in KELURAHAN}
_KELURAHAN_BY_NAME = {_name_key(kelurahan.name): kelurahan for kelurahan in KELURAHAN}
for _alias, _name in _KELURAHAN_ALIASES.items():
    _KELURAHAN_BY_NAME[_alias] = _KELURAHAN_BY_NAME[_name_key(_name)]


def kecamatan_by_code(code: str) -> Kecamatan:
    """Return the kecamatan with the 6-digit code, or raise RegionNotFoundError."""
    try:
        return _KECAMATAN_BY_CODE[code.strip()]
    except KeyError:
        raise RegionNotFoundError(f"no kecamatan of Kota Jambi has code {code!r}") from None


def kecamatan_by_name(name: str) -> Kecamatan:
    """Return the kecamatan with the name, ignoring case and extra spaces, or raise RegionNotFoundError."""
    try:
        return _KECAMATAN_BY_NAME[_name_key(name)]
    except KeyError:
        raise RegionNotFoundError(f"no kecamatan of Kota Jambi is named {name!r}") from None


def kelurahan_by_code(code: str) -> Kelurahan:
    """Return the kelurahan with the 10-digit code, or raise RegionNotFoundError."""
    try:
        return _KELURAHAN_BY_CODE[code.strip()]
    except KeyError:
        raise RegionNotFoundError(f"no kelurahan of Kota Jambi has code {code!r}") from None


def kelurahan_by_name(name: str) -> Kelurahan:
    """Return the kelurahan with the name or a common variant spelling, or raise RegionNotFoundError.

    Matching ignores case and extra spaces. Kelurahan names are unique within Kota Jambi,
    so no kecamatan is needed to tell them apart.
    """
    try:
        return _KELURAHAN_BY_NAME[_name_key(name)]
    except KeyError:
        raise RegionNotFoundError(f"no kelurahan of Kota Jambi is named {name!r}") from None


def kelurahan_of(kecamatan_code: str) -> tuple[Kelurahan, ...]:
    """Return the kelurahan of one kecamatan in code order, or raise RegionNotFoundError."""
    kecamatan = kecamatan_by_code(kecamatan_code)
    return tuple(kelurahan for kelurahan in KELURAHAN if kelurahan.kecamatan_code == kecamatan.code)
