"""The stored form of a card's public keys: uncompressed X9.62 points.

The issuance station registers each key as a 33-byte compressed point, and
the API shows it in that form. The server stores the 65-byte uncompressed
point instead, because a push loads a card key for each chip record. With
cryptography 50, loading an uncompressed point took about 6 µs and loading
a compressed one 19 µs, since it needs a square root modulo p (timeit, on
the 2-core Intel Xeon of docs/BENCHMARKS.md). A server has too many cards
for its cache of loaded keys to contain them all.

card.keys.decompress_point loads either form, so rows written before the
migration to this form, or by tests that write compressed points, still
verify.
"""

from __future__ import annotations

from card.keys import compress_point, decompress_point, uncompress_point

__all__ = ["stored_point", "registered_point"]


def stored_point(point: bytes | None) -> bytes | None:
    """Return the uncompressed form of a registered point.

    Raises ValueError if the point is not on P-256.
    """
    if point is None:
        return None
    return uncompress_point(decompress_point(point))


def registered_point(stored: bytes | None) -> bytes | None:
    """Return the compressed form of a stored point, as the station registered it."""
    if stored is None:
        return None
    stored = bytes(stored)
    if len(stored) == 33:
        return stored
    return compress_point(decompress_point(stored))
