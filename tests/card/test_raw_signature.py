"""raw_to_der() against cryptography's encode_dss_signature()."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from card.keys import der_to_raw, raw_to_der

COORDINATE = st.one_of(
    st.integers(0, 2**256 - 1),
    st.integers(0, 2**8 - 1),
    st.integers(2**255, 2**256 - 1),
    st.integers(2**247, 2**248 - 1),
    st.integers(2**248, 2**255 - 1),
)


def raw_of(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@settings(database=None, deadline=None, max_examples=1000)
@given(COORDINATE, COORDINATE)
def test_raw_to_der_matches_cryptography(r: int, s: int) -> None:
    assert raw_to_der(raw_of(r, s)) == encode_dss_signature(r, s)


@pytest.mark.parametrize(
    "r, s",
    [(0, 0), (0, 1), (1, 0), (0x7F, 0x80), (2**255, 2**255 - 1), (2**256 - 1, 2**256 - 1), (2**248, 2**248 - 1)],
)
def test_raw_to_der_edge_values(r: int, s: int) -> None:
    der = raw_to_der(raw_of(r, s))
    assert der == encode_dss_signature(r, s)
    assert der_to_raw(der) == raw_of(r, s)


@pytest.mark.parametrize("size", [0, 63, 65])
def test_raw_to_der_rejects_wrong_size(size: int) -> None:
    with pytest.raises(ValueError, match="must be 64 bytes"):
        raw_to_der(bytes(size))
