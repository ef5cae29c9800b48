"""RFC 8949 appendix A examples through the strict decoder (card.cbor).

Every example either decodes strictly to its stated value and, where marked
roundtrip, re-encodes to the same bytes, or is rejected for a rule of the
project's CBOR profile:

- tags (0, 1, 2, 3, 23, 24, 32): the profile has none except COSE_Sign1's
  tag 18 on an outermost item, so no semantic tag is ever interpreted;
- floating-point numbers: no project data type has one;
- undefined and simple values other than false, true and null;
- indefinite lengths, which have no deterministic form.

A rejected example must still be well-formed CBOR: cbor2 (the permissive
reference decoder here) decodes it to the stated value, except f818, which
RFC 8949 no longer counts as well-formed (see NOT_WELL_FORMED). The strict decoder
accepts only deterministic encodings, so an example it accepts must be one
marked roundtrip. The vectors are read from ../shared/vectors/cbor next to
the repository; the tests skip when that folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pytest

from card.cbor import CBORError, decode, encode

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "cbor" / "appendix_a.json"
if not VECTORS.is_file():
    pytest.skip(f"CBOR vectors not found at {VECTORS}", allow_module_level=True)

EXAMPLES = json.loads(VECTORS.read_text())


# RFC 8949 section 3.3 made the two-byte form of simple values below 32 not
# well-formed. The examples come from RFC 7049, where f818 was simple(24), so
# the permissive decoder rejects it as well.
NOT_WELL_FORMED = {"f818"}


def rejection_reason(example: dict) -> str | None:
    """Return the pattern of the profile rule that rejects the example, or None if the profile allows it."""
    first = bytes.fromhex(example["hex"])[0]
    if 0xC0 <= first <= 0xDB:
        return r"tag \d+ .*is not allowed"
    if first in (0xF9, 0xFA, 0xFB):
        return "floating-point numbers are not allowed"
    if first >> 5 == 7 and first not in (0xF4, 0xF5, 0xF6):
        return "simple value"
    # The remaining examples not marked roundtrip are the indefinite-length ones.
    if not example["roundtrip"]:
        return "indefinite-length"
    return None


def example_id(example: dict) -> str:
    return example["hex"][:24]


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_appendix_a_example(example: dict) -> None:
    data = bytes.fromhex(example["hex"])
    reason = rejection_reason(example)
    if reason is None:
        value = decode(data)
        if "decoded" in example:
            assert value == example["decoded"]
        assert example["roundtrip"], "the strict decoder accepted a non-deterministic encoding"
        assert encode(value) == data
        return
    with pytest.raises(CBORError, match=reason):
        decode(data)
    if example["hex"] in NOT_WELL_FORMED:
        with pytest.raises(cbor2.CBORDecodeError):
            cbor2.loads(data)
        return
    permissive = cbor2.loads(data)
    if "decoded" in example:
        assert permissive == example["decoded"]


def test_both_outcomes_occur() -> None:
    reasons = [rejection_reason(example) for example in EXAMPLES]
    accepted = reasons.count(None)
    assert accepted >= 35, f"only {accepted} examples fall inside the profile"
    assert {"floating-point numbers are not allowed", "indefinite-length", "simple value"} <= set(reasons)
