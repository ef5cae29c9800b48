"""Interoperability with stock PIV tools: OpenSC's opensc-tool and pkcs11-tool on a personalised reference card.

The tools run as subprocesses against 'Virtual PCD 00 00' through pcscd, as
an administrator would run them. They come from the Debian package opensc
(scripts/setup-system.sh installs it); a missing tool fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card.keys import decompress_point, raw_to_der, verify_der_prehashed
from card.piv import PivSession, Slot
from card.reference import ATR
from hardware.pcsc import PcscContext
from issuance.personalise import personalise_chip_card
from issuance.photo import placeholder_photo
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from tests.conftest import READER
from tests.hardware.piv_support import InsertedCard

pytestmark = pytest.mark.usefixtures("pcsc_available")

PIN = "13572468"
TOOL_TIMEOUT_SECONDS = 60
# Where Debian, Fedora and source builds put OpenSC's PKCS#11 module, checked after dpkg's own file list.
MODULE_CANDIDATES = (
    "/usr/lib/*/opensc-pkcs11.so", "/usr/lib64/opensc-pkcs11.so", "/usr/lib/opensc-pkcs11.so",
    "/usr/local/lib/opensc-pkcs11.so", "/usr/lib/*/pkcs11/opensc-pkcs11.so",
)
INSTALL_HINT = "install the Debian package opensc (scripts/setup-system.sh does)"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; {INSTALL_HINT}")
    return path


def find_pkcs11_module() -> str:
    """Locate opensc-pkcs11.so: the package's file list first, then the usual library directories."""
    if shutil.which("dpkg-query"):
        listing = subprocess.run(["dpkg-query", "-L", "opensc-pkcs11"], capture_output=True, text=True)
        for line in listing.stdout.splitlines():
            if line.endswith("/opensc-pkcs11.so") and Path(line).exists():
                return line
    for pattern in MODULE_CANDIDATES:
        for match in sorted(Path("/").glob(pattern.lstrip("/"))):
            return str(match)
    pytest.fail(f"OpenSC's PKCS#11 module opensc-pkcs11.so was not found; {INSTALL_HINT}")


@pytest.fixture(scope="module")
def opensc_env(tmp_path_factory) -> dict[str, str]:
    """Environment with an OpenSC configuration of its own: no file cache, debug log in a temporary file."""
    directory = tmp_path_factory.mktemp("opensc")
    config = directory / "opensc.conf"
    config.write_text(
        "app default {\n"
        f"  debug = 3;\n  debug_file = {directory / 'opensc-debug.log'};\n"
        "  framework pkcs15 { use_file_caching = no; }\n"
        "}\n",
        encoding="utf-8",
    )
    return {**os.environ, "OPENSC_CONF": str(config)}


@pytest.fixture(scope="module")
def personalised(tmp_path_factory, pcsc_available):
    """A personalised reference card in the reader for the whole module, with its issued-card record."""
    directory = tmp_path_factory.mktemp("opensc-card")
    create_station_keys(directory / "station")
    station = Station(directory / "station")
    resident = generate_register(3, seed=5)[0]
    with PcscContext() as context:
        card = InsertedCard(context, directory / "card.json").insert()
        try:
            with card.connection() as connection:
                issued = personalise_chip_card(PivSession(connection), resident, station,
                                               placeholder_photo(resident.name, seed=3), date(2026, 12, 1), pin=PIN)
            yield card, issued
        finally:
            card.remove()


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_SECONDS)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}"
    return result


def pkcs11_tool(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [require_tool("pkcs11-tool"), "--module", find_pkcs11_module(), "--slot-description", READER, *arguments]
    return run(command, env)


def test_opensc_tool_identifies_piv_card(personalised, opensc_env) -> None:
    tool = require_tool("opensc-tool")
    name = run([tool, "--reader", READER, "--name"], opensc_env).stdout
    atr = run([tool, "--reader", READER, "--atr"], opensc_env).stdout
    assert name.strip() == "Personal Identity Verification Card"
    assert bytes.fromhex(atr.strip().replace(":", "")) == ATR


def parse_objects(listing: str) -> list[tuple[str, dict[str, str]]]:
    """Split pkcs11-tool --list-objects output into (kind, attributes), e.g. ("Certificate Object", {"ID": "04"})."""
    objects: list[tuple[str, dict[str, str]]] = []
    for line in listing.splitlines():
        if line and not line[0].isspace():
            objects.append((line.split(";")[0].strip(), {}))
        elif objects and ":" in line:
            name, _, value = line.strip().partition(":")
            objects[-1][1].setdefault(name.strip(), value.strip())
    return objects


def test_pkcs11_tool_lists_cak_certificate_and_key(personalised, opensc_env) -> None:
    _, issued = personalised
    objects = parse_objects(pkcs11_tool("--list-objects", env=opensc_env).stdout)
    with_id_04 = {kind: attributes for kind, attributes in objects if attributes.get("ID") == "04"}
    assert with_id_04["Certificate Object"]["label"] == "Certificate for Card Authentication"
    assert f"CN=Card Authentication {issued.card_number}" in with_id_04["Certificate Object"]["subject"]
    assert with_id_04["Public Key Object"]["label"] == "CARD AUTH pubkey"
    assert with_id_04["Private Key Object"]["label"] == "CARD AUTH key"


def test_pkcs11_tool_reads_cak_certificate(personalised, opensc_env, tmp_path) -> None:
    card, issued = personalised
    output = tmp_path / "cak.der"
    pkcs11_tool("--read-object", "--type", "cert", "--id", "04", "--output-file", str(output), env=opensc_env)
    certificate = x509.load_der_x509_certificate(output.read_bytes())
    with card.session() as session:
        on_card = session.card_authentication_certificate()
    assert certificate == on_card
    assert certificate.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    ) == issued.card_key


def test_pkcs11_signature_with_card_authentication_key(personalised, opensc_env, tmp_path) -> None:
    # pkcs11-tool 0.23 logs in before every --sign when the token reports CKF_LOGIN_REQUIRED, as
    # OpenSC's PIV token does, so it needs --pin here although the card signs with 9E without it.
    card, issued = personalised
    digest = os.urandom(32)
    (tmp_path / "digest").write_bytes(digest)
    signature_file = tmp_path / "signature.der"
    pkcs11_tool("--login", "--pin", PIN, "--sign", "--id", "04", "--mechanism", "ECDSA",
                "--input-file", str(tmp_path / "digest"), "--output-file", str(signature_file),
                "--signature-format", "openssl", env=opensc_env)
    with card.session() as session:
        certificate_key = session.card_authentication_certificate().public_key()
    signature = signature_file.read_bytes()
    assert verify_der_prehashed(certificate_key, signature, digest)
    assert verify_der_prehashed(decompress_point(issued.card_key), signature, digest)
    assert not verify_der_prehashed(decompress_point(issued.authentication_key), signature, digest)


# Signs with the key of ID 04 through OpenSC's PKCS#11 module in a session that never logs in.
SIGN_WITHOUT_LOGIN = """
import sys
import pkcs11
from pkcs11 import Mechanism, ObjectClass
library = pkcs11.lib(sys.argv[1])
slot = next(s for s in library.get_slots(token_present=True) if s.slot_description.strip() == sys.argv[2])
with slot.get_token().open() as session:
    key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=b"\\x04")
    sys.stdout.write(key.sign(bytes.fromhex(sys.argv[3]), mechanism=Mechanism.ECDSA).hex())
"""


def test_pkcs11_card_authentication_key_signs_without_login(personalised, opensc_env) -> None:
    card, issued = personalised
    digest = os.urandom(32)
    card.card.received.clear()
    result = run([sys.executable, "-c", SIGN_WITHOUT_LOGIN, find_pkcs11_module(), READER, digest.hex()], opensc_env)
    signature = raw_to_der(bytes.fromhex(result.stdout))
    assert verify_der_prehashed(decompress_point(issued.card_key), signature, digest)
    pin_presented = [apdu for apdu in card.card.received if apdu[1] == 0x20 and len(apdu) > 5]
    assert pin_presented == []


def test_pkcs11_signature_with_authentication_key_after_login(personalised, opensc_env, tmp_path) -> None:
    _, issued = personalised
    digest = os.urandom(32)
    (tmp_path / "digest").write_bytes(digest)
    signature_file = tmp_path / "signature.der"
    pkcs11_tool("--login", "--pin", PIN, "--sign", "--id", "01", "--mechanism", "ECDSA",
                "--input-file", str(tmp_path / "digest"), "--output-file", str(signature_file),
                "--signature-format", "openssl", env=opensc_env)
    assert verify_der_prehashed(decompress_point(issued.authentication_key), signature_file.read_bytes(), digest)


def test_pkcs11_login_with_wrong_pin_fails(personalised, opensc_env) -> None:
    card, _ = personalised
    command = [require_tool("pkcs11-tool"), "--module", find_pkcs11_module(), "--slot-description", READER,
               "--login", "--pin", "00000000", "--list-objects"]
    result = subprocess.run(command, capture_output=True, text=True, env=opensc_env, timeout=TOOL_TIMEOUT_SECONDS)
    assert result.returncode != 0
    assert "CKR_PIN_INCORRECT" in result.stderr + result.stdout
    assert card.state.pin_retries == 2
    with card.session() as session:
        session.verify_pin(PIN)
    assert card.state.pin_retries == 3
