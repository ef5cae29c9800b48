"""One-time terminal enrolment codes.

A code is 120 random bits in RFC 4648 base32, shown in six groups of four
("K7QF-2MZC-...") so that a person can read it out or type it. Input is
normalised (hyphens and spaces dropped, upper case) before hashing. The
database stores only SHA-256 of the normalised code: the code is random
enough that a slow password hash would add nothing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

__all__ = ["generate_code", "normalise_code", "hash_code"]

_CODE_BYTES = 15
_GROUP_SIZE = 4


def generate_code() -> str:
    text = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode("ascii")
    return "-".join(text[i : i + _GROUP_SIZE] for i in range(0, len(text), _GROUP_SIZE))


def normalise_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def hash_code(code: str) -> bytes:
    return hashlib.sha256(normalise_code(code).encode("utf-8")).digest()
