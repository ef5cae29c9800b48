"""Helpers for trust list and revocation tests: city keys, signed lists and an enrolled terminal store."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest

from card import cbor
from card.keys import FileSigner, generate_private_key
from card.trustlist import KeyEntry, Role, TrustList, sign_trust_list
from card.verify import WIB
from terminal.store import TerminalStore
from terminal.trust import apply_trust_list

YEAR_START, YEAR_END = date(2026, 1, 1), date(2026, 12, 31)


def new_signer() -> FileSigner:
    return FileSigner(generate_private_key())


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=WIB)


def unix_wib(year: int, month: int, day: int, hour: int = 12) -> int:
    return int(wib(year, month, day, hour).timestamp())


def entry(role: Role, signer: FileSigner, not_before: date = YEAR_START, not_after: date = YEAR_END,
          revoked_from: date | None = None, label: str = "") -> KeyEntry:
    return KeyEntry(role, signer.public_key, not_before, not_after, revoked_from, label)


@dataclass
class City:
    """The city's root key, one issuer key and the server sync key, with a trust list over them."""

    root: FileSigner = field(default_factory=new_signer)
    issuer: FileSigner = field(default_factory=new_signer)
    sync: FileSigner = field(default_factory=new_signer)

    def base_entries(self) -> list[KeyEntry]:
        return [entry(Role.ISSUER, self.issuer, label="station 01"),
                entry(Role.SYNC, self.sync, not_after=date(2027, 12, 31))]

    def trust_list(self, sequence: int, *entries: KeyEntry, issued_at: int = 0) -> bytes:
        keys = tuple(entries) if entries else tuple(self.base_entries())
        return sign_trust_list(TrustList(sequence, issued_at, keys), self.root)


def enrolled_store(path: Path, city: City) -> TerminalStore:
    """A terminal store as enrolment leaves it: an id and the pinned root key, no lists yet."""
    store = TerminalStore(path)
    store.set_meta({"terminal_id": "TRM-TRUST001", "programmes": '["lpg"]'})
    store.pin_root_key(city.root.public_key)
    return store


def service_point_store(path: Path, city: City) -> TerminalStore:
    """Create an enrolled terminal store at service point 4 that has applied the city's trust list 1."""
    store = enrolled_store(path, city)
    store.set_meta({"service_point_id": "4"})
    apply_trust_list(store, city.trust_list(1))
    return store


def tamper_payload(signed: bytes, old: bytes, new: bytes) -> bytes:
    """Replace old with new in a COSE_Sign1 payload and keep the original signature, as a tampering proxy would."""
    protected, _unprotected, payload, signature = cbor.decode(signed, outer_tags=(18,)).value
    tampered = payload.replace(old, new)
    assert tampered != payload, "the payload does not contain the bytes to replace"
    return cbor.encode(cbor.CBORTag(18, [protected, {}, tampered, signature]))


# --- SoftHSM2 token for the PKCS#11 backend --------------------------------------------

SOFTHSM_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
TOKEN_LABEL = "kartu-test"
TOKEN_PIN = "246810"


@dataclass(frozen=True)
class SoftHsm:
    module: str
    config: Path
    pin_file: Path

    def uri(self, label: str, token: str = TOKEN_LABEL, pin_file: Path | None = None) -> str:
        return (f"pkcs11:token={token};object={label}"
                f"?module-path={self.module}&pin-source={pin_file or self.pin_file}")

    def env(self) -> dict[str, str]:
        return {**os.environ, "SOFTHSM2_CONF": str(self.config)}


def unique_label(prefix: str = "key") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory) -> SoftHsm:
    """A SoftHSM2 token initialised in a temporary directory for the whole test session.

    SOFTHSM2_CONF is read when the library is first loaded (C_Initialize), so
    it is set for the rest of the session before any test opens a token, and
    the test keys use unique labels on the one token.
    """
    util = shutil.which("softhsm2-util")
    module = next((path for path in SOFTHSM_MODULES if Path(path).is_file()), None)
    if util is None or module is None:
        pytest.fail("SoftHSM2 is missing; install the Debian package softhsm2 (scripts/setup-system.sh does)")
    root = tmp_path_factory.mktemp("softhsm")
    tokens = root / "tokens"
    tokens.mkdir()
    config = root / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)
    subprocess.run(
        [util, "--init-token", "--free", "--label", TOKEN_LABEL, "--so-pin", "13579135", "--pin", TOKEN_PIN],
        check=True, capture_output=True,
    )
    pin_file = root / "user.pin"
    pin_file.write_text(TOKEN_PIN + "\n")
    pin_file.chmod(0o600)
    yield SoftHsm(module, config, pin_file)
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
