"""X.509 certificates for the card's keys, issued by the issuer key.

The certificate of the Card Authentication Key (slot 9E) and of the PIV
Authentication key (slot 9A) let stock PIV tools find and use the keys. The
issuer signs the TBSCertificate through the Signer interface, so an issuer
key in a PKCS#11 token works as well as a key file. cryptography's builder
signs only with a private key object, so this module builds the certificate
with a throwaway key, keeps its TBSCertificate and adds the issuer's signature.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier, SignatureAlgorithmOID

from card.apdu import tlv
from card.cose import Signer
from card.keys import generate_private_key, raw_to_der, spki_of

__all__ = [
    "CertificateError", "ID_PIV_CARD_AUTH", "ID_PIV_CONTENT_SIGNING", "issuer_name", "card_subject",
    "build_card_certificate", "build_content_signing_certificate", "verify_card_certificate",
]

# id-PIV-cardAuth (FIPS 201): the extended key usage every Card Authentication certificate carries.
ID_PIV_CARD_AUTH = ObjectIdentifier("2.16.840.1.101.3.6.8")
# id-PIV-content-signing: the extended key usage of the key that signs the CHUID.
ID_PIV_CONTENT_SIGNING = ObjectIdentifier("2.16.840.1.101.3.6.7")
ORGANISATION = "Pemerintah Kota Jambi"
UNIT = "Kartu Bahagia"
ROLE_NAMES = {0x9A: "PIV Authentication", 0x9E: "Card Authentication"}
# DER AlgorithmIdentifier of ecdsa-with-SHA256 (RFC 5758: no parameters).
_ECDSA_SHA256 = tlv(0x30, tlv(0x06, bytes.fromhex("2A8648CE3D040302")))


class CertificateError(ValueError):
    """A card certificate is malformed, not signed by the issuer, or not for the expected key."""


def issuer_name(issuer_kid: bytes) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, UNIT),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Kartu Bahagia issuer {issuer_kid.hex()}"),
    ])


def card_subject(card_number: str, slot: int) -> x509.Name:
    """Name the card by its number only: the holder's name and NIK stay off the certificate."""
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, UNIT),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, card_number),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{ROLE_NAMES[slot]} {card_number}"),
    ])


def _at_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=timezone.utc)


def build_card_certificate(card_key: ec.EllipticCurvePublicKey, slot: int, card_number: str,
                           not_before: date, not_after: date, issuer: Signer) -> bytes:
    """Issue the DER certificate of the card key in slot (9A or 9E), valid from not_before to not_after."""
    if slot not in ROLE_NAMES:
        raise ValueError(f"slot {slot:02X} has no Kartu Bahagia certificate; use 9A or 9E")
    builder = (
        x509.CertificateBuilder()
        .subject_name(card_subject(card_number, slot))
        .issuer_name(issuer_name(issuer.kid))
        .public_key(card_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_at_midnight(not_before))
        .not_valid_after(_at_midnight(not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_digital_signature_only(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(card_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(issuer.kid, None, None), critical=False)
    )
    if slot == 0x9E:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ID_PIV_CARD_AUTH]), critical=False)
    return _signed_by_issuer(builder, issuer)


def build_content_signing_certificate(issuer: Signer, issuer_key: ec.EllipticCurvePublicKey,
                                      not_before: date, not_after: date) -> bytes:
    """Issue a self-signed DER certificate of the issuer key with the id-PIV-content-signing usage.

    The CHUID signature carries it so that PIV tools find the signer's key.
    It is self-signed because the city's issuer keys are certified by the
    signed trust list, not by an X.509 certification authority.
    """
    name = issuer_name(issuer.kid)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(issuer_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_at_midnight(not_before))
        .not_valid_after(_at_midnight(not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_digital_signature_only(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(issuer.kid), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ID_PIV_CONTENT_SIGNING]), critical=True)
    )
    return _signed_by_issuer(builder, issuer)


def _signed_by_issuer(builder: x509.CertificateBuilder, issuer: Signer) -> bytes:
    """Return the DER certificate of builder's TBSCertificate signed by issuer (ecdsa-with-SHA256)."""
    tbs = builder.sign(generate_private_key(), hashes.SHA256()).tbs_certificate_bytes
    signature = raw_to_der(issuer.sign(tbs))
    return tlv(0x30, tbs + _ECDSA_SHA256 + tlv(0x03, b"\x00" + signature))


def _digital_signature_only() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
    )


def verify_card_certificate(der: bytes, issuer_key: ec.EllipticCurvePublicKey,
                            card_key: ec.EllipticCurvePublicKey | None = None) -> x509.Certificate:
    """Check that der is an ECDSA-SHA256 certificate signed by issuer_key (and for card_key when given)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(f"certificate is not valid DER: {exc}") from None
    if certificate.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        raise CertificateError(f"certificate is signed with {certificate.signature_algorithm_oid.dotted_string}, not ecdsa-with-SHA256")
    try:
        issuer_key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CertificateError("certificate signature does not verify with the issuer key") from None
    if card_key is not None and spki_of(certificate.public_key()) != spki_of(card_key):
        raise CertificateError("certificate contains a different public key than the card's")
    return certificate

