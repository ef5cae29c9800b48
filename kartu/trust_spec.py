"""The trust list specification: the JSON file from which `kartu keys sign-trust-list` builds a trust list.

Example:
  {
    "sequence": 7,
    "keys": [
      {"role": "issuer", "public_key": "station-01/issuer.pub.pem",
       "not_before": "2026-01-01", "not_after": "2026-12-31", "label": "Station 01, 2026"},
      {"role": "issuer", "public_key": "station-01/retired/issuer-0011223344556677.pub.pem",
       "not_before": "2025-01-01", "not_after": "2025-12-31", "revoked_from": "2025-11-03"},
      {"role": "sync", "public_key": "sync.pub.pem", "not_before": "2026-01-01", "not_after": "2027-12-31"}
    ]
  }
Roles are issuer, terminal and sync. Dates are calendar days (YYYY-MM-DD) in
WIB, inclusive. public_key is a PEM file path, relative to the spec file.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from card.keys import KeyFileError, load_public_key
from card.trustlist import KeyEntry, Role, TrustList, TrustListError

__all__ = ["SpecError", "load_trust_list_spec"]

ROLES = {role.name.lower(): role for role in Role}
KEY_FIELDS = {"role", "public_key", "not_before", "not_after", "revoked_from", "label"}


class SpecError(ValueError):
    """The trust list specification is invalid; the message names the entry and field."""


def _date(entry: dict, name: str, where: str, required: bool = True) -> date | None:
    value = entry.get(name)
    if value is None:
        if required:
            raise SpecError(f"{where}: {name} is missing; give a date as YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: {name} {value!r} is not a date of the form YYYY-MM-DD") from None


def _entry(entry: object, index: int, base: Path) -> KeyEntry:
    where = f"keys[{index}]"
    if not isinstance(entry, dict):
        raise SpecError(f"{where} must be a JSON object")

    unknown = sorted(entry.keys() - KEY_FIELDS)
    if unknown:
        raise SpecError(f"{where}: unknown fields {unknown}; allowed are {sorted(KEY_FIELDS)}")
    role = ROLES.get(entry.get("role"))
    if role is None:
        raise SpecError(f"{where}: role {entry.get('role')!r} must be one of {', '.join(ROLES)}")

    key_path = entry.get("public_key")
    if not isinstance(key_path, str) or not key_path:
        raise SpecError(f"{where}: public_key must be the path of a PEM public key file")
    try:
        public_key = load_public_key(base / key_path)
    except KeyFileError as exc:
        raise SpecError(f"{where}: {exc}") from None

    label = entry.get("label", "")
    if not isinstance(label, str):
        raise SpecError(f"{where}: label must be text")

    try:
        return KeyEntry(
            role=role,
            public_key=public_key,
            not_before=_date(entry, "not_before", where),
            not_after=_date(entry, "not_after", where),
            revoked_from=_date(entry, "revoked_from", where, required=False),
            label=label,
        )
    except TrustListError as exc:
        raise SpecError(f"{where}: {exc}") from None


def load_trust_list_spec(path: Path, issued_at: int) -> TrustList:
    """Read a trust list specification and return the trust list it describes, issued at issued_at (Unix seconds)."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read trust list spec {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"trust list spec {path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict) or set(spec) - {"sequence", "keys"}:
        raise SpecError(f"trust list spec {path} must be a JSON object with only 'sequence' and 'keys'")
    sequence = spec.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise SpecError(f"trust list spec {path}: sequence {sequence!r} must be a whole number of 1 or more")
    keys = spec.get("keys")
    if not isinstance(keys, list) or not keys:
        raise SpecError(f"trust list spec {path}: keys must be a non-empty list")
    entries = tuple(_entry(entry, index, path.parent) for index, entry in enumerate(keys))
    try:
        return TrustList(sequence=sequence, issued_at=issued_at, keys=entries)
    except TrustListError as exc:
        raise SpecError(f"trust list spec {path}: {exc}") from None
