"""The CHUID's issuer signature (CMS SignedData) and the Card Capability Container."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pytest
from asn1crypto import cms
from cryptography import x509

from card.apdu import parse_tlv, tlv
from card.certificates import ID_PIV_CONTENT_SIGNING, build_content_signing_certificate
from card.keys import FileSigner, generate_private_key
from card.piv_objects import (
    TAG_ISSUER_SIGNATURE, PivObjectError, build_capability_container, build_chuid, guid_for_serial, parse_chuid,
)
from card.piv_signature import (
    ID_PIV_CHUID_SECURITY_OBJECT, chuid_signed_content, sign_chuid_content, verify_chuid_signature,
)

GUID = guid_for_serial("10000000042")
EXPIRES = date(2031, 12, 1)


@pytest.fixture
def signer() -> FileSigner:
    return FileSigner(generate_private_key())


def signed_chuid(signer: FileSigner, guid: bytes = GUID) -> bytes:
    content, _ = chuid_signed_content(build_chuid(guid, EXPIRES))
    certificate = build_content_signing_certificate(signer, signer.public_key, date(2026, 12, 1), EXPIRES)
    return build_chuid(guid, EXPIRES, sign_chuid_content(content, signer, certificate))


def test_signed_chuid_verifies(signer) -> None:
    chuid = signed_chuid(signer)
    verify_chuid_signature(chuid, signer.public_key)
    assert parse_chuid(chuid).guid == GUID


def test_signature_layout(signer) -> None:
    signature = parse_chuid(signed_chuid(signer)).issuer_signature
    info = cms.ContentInfo.load(signature)
    signed_data = info["content"]
    assert info["content_type"].native == "signed_data"
    assert signed_data["version"].native == "v3"
    assert signed_data["encap_content_info"]["content_type"].dotted == ID_PIV_CHUID_SECURITY_OBJECT
    assert signed_data["encap_content_info"]["content"].native is None
    attribute_types = {a["type"].dotted for a in signed_data["signer_infos"][0]["signed_attrs"]}
    assert attribute_types == {"1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4", "2.16.840.1.101.3.6.5"}


def test_content_signing_certificate(signer) -> None:
    der = build_content_signing_certificate(signer, signer.public_key, date(2026, 12, 1), EXPIRES)
    certificate = x509.load_der_x509_certificate(der)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical
    assert list(usage.value) == [ID_PIV_CONTENT_SIGNING]
    assert certificate.subject == certificate.issuer
    assert f"Kartu Bahagia issuer {signer.kid.hex()}" in certificate.subject.rfc4514_string()


def test_other_issuer_key_rejected(signer) -> None:
    with pytest.raises(PivObjectError, match="another key"):
        verify_chuid_signature(signed_chuid(signer), FileSigner(generate_private_key()).public_key)


def test_changed_guid_rejected(signer) -> None:
    chuid = signed_chuid(signer)
    signature = parse_chuid(chuid).issuer_signature
    moved = build_chuid(guid_for_serial("10000000043"), EXPIRES, signature)
    with pytest.raises(PivObjectError, match="message digest"):
        verify_chuid_signature(moved, signer.public_key)


def test_empty_signature_rejected(signer) -> None:
    with pytest.raises(PivObjectError, match="empty"):
        verify_chuid_signature(build_chuid(GUID, EXPIRES), signer.public_key)


def test_garbage_signature_rejected(signer) -> None:
    with pytest.raises(PivObjectError, match="not a valid CMS SignedData"):
        verify_chuid_signature(build_chuid(GUID, EXPIRES, b"\x30\x03\x02\x01\x01"), signer.public_key)


def test_flipped_signature_byte_rejected(signer) -> None:
    chuid = signed_chuid(signer)
    signature = bytearray(parse_chuid(chuid).issuer_signature)
    signature[-3] ^= 0x01
    with pytest.raises(PivObjectError):
        verify_chuid_signature(build_chuid(GUID, EXPIRES, bytes(signature)), signer.public_key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_chuid_signature(signer, tmp_path) -> None:
    chuid = signed_chuid(signer)
    content, signature = chuid_signed_content(chuid)
    (tmp_path / "signature.der").write_bytes(signature)
    (tmp_path / "content.bin").write_bytes(content)
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "signature.der"),
         "-content", str(tmp_path / "content.bin"), "-binary", "-noverify", "-out", "/dev/null"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr


def test_signed_content_is_elements_before_signature(signer) -> None:
    chuid = signed_chuid(signer)
    content, _ = chuid_signed_content(chuid)
    tags = [tag for tag, _ in parse_tlv(content)]
    assert tags == [0x30, 0x34, 0x35]
    assert chuid.startswith(content + bytes([TAG_ISSUER_SIGNATURE]))


def test_element_after_signature_rejected(signer) -> None:
    with pytest.raises(PivObjectError, match="after the issuer signature"):
        chuid_signed_content(build_chuid(GUID, EXPIRES) + tlv(0x34, GUID))


def test_capability_container_layout() -> None:
    container = dict(parse_tlv(build_capability_container(GUID)))
    assert container[0xF0] == bytes.fromhex("A000000116FF01") + GUID[:14]
    assert len(container[0xF0]) == 21
    assert container[0xF1] == b"\x21"
    assert container[0xF2] == b"\x21"
    assert container[0xF5] == b"\x10"
    assert container[0xFE] == b""
