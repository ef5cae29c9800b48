"""Kota Jambi kecamatan and kelurahan table and its lookups."""

import re

import pytest

from issuance import regions


def test_table_has_11_kecamatan_and_62_kelurahan():
    assert len(regions.KECAMATAN) == 11
    assert len(regions.KELURAHAN) == 62


def test_kecamatan_codes_are_1571xx_and_unique():
    codes = [kecamatan.code for kecamatan in regions.KECAMATAN]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert re.fullmatch(r"1571\d\d", code), code


def test_kelurahan_codes_extend_their_kecamatan_code():
    codes = [kelurahan.code for kelurahan in regions.KELURAHAN]
    assert len(set(codes)) == len(codes)
    for kelurahan in regions.KELURAHAN:
        assert re.fullmatch(r"\d{10}", kelurahan.code), kelurahan
        assert kelurahan.code[:6] == kelurahan.kecamatan_code, kelurahan
        assert kelurahan.code[6] == "1", kelurahan


def test_kelurahan_names_are_unique_in_city():
    names = [kelurahan.name.casefold() for kelurahan in regions.KELURAHAN]
    assert len(set(names)) == len(names)


def test_every_kecamatan_has_kelurahan():
    counts = {kecamatan.code: len(regions.kelurahan_of(kecamatan.code)) for kecamatan in regions.KECAMATAN}
    assert all(count >= 4 for count in counts.values()), counts
    assert sum(counts.values()) == 62


def test_kecamatan_names_from_requirements():
    expected = {
        "Kota Baru", "Jambi Selatan", "Jelutung", "Pasar Jambi", "Telanaipura", "Danau Teluk",
        "Pelayangan", "Jambi Timur", "Alam Barajo", "Danau Sipin", "Paal Merah",
    }
    assert {kecamatan.name for kecamatan in regions.KECAMATAN} == expected


def test_lookup_by_code():
    kelurahan = regions.kelurahan_by_name("Kenali Asam Bawah")
    assert regions.kelurahan_by_code(kelurahan.code) == kelurahan
    assert regions.kecamatan_by_code(kelurahan.kecamatan_code).name == "Kota Baru"
    assert kelurahan.kecamatan.name == "Kota Baru"


def test_lookup_by_name_ignores_case_and_spaces():
    assert regions.kelurahan_by_name("  kenali   ASAM bawah ").name == "Kenali Asam Bawah"
    assert regions.kecamatan_by_name("JAMBI  TIMUR").name == "Jambi Timur"


def test_lookup_by_variant_spelling():
    assert regions.kelurahan_by_name("SIMPANG TIGA SIPIN").name == "Simpang III Sipin"
    assert regions.kelurahan_by_name("Sejinjang").name == "Sijenjang"


@pytest.mark.parametrize(
    "lookup, key",
    [
        (regions.kecamatan_by_code, "157199"),
        (regions.kecamatan_by_name, "Atlantis"),
        (regions.kelurahan_by_code, "1571991001"),
        (regions.kelurahan_by_name, "Atlantis"),
        (regions.kelurahan_of, "157199"),
    ],
)
def test_unknown_region_raises(lookup, key):
    with pytest.raises(regions.RegionNotFoundError) as info:
        lookup(key)
    assert isinstance(info.value, KeyError)
    assert key in str(info.value)
    assert not str(info.value).startswith('"')
