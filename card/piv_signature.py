"""The CHUID's issuer asymmetric signature (tag 3E): a CMS SignedData, RFC 5652, as SP 800-73-4 lays it out.

The signature is detached: eContentType is id-PIV-CHUIDSecurityObject and
the signed content is the CHUID's TLV elements before tag 3E (FASC-N, GUID,
expiration date). The signed attributes are content type, message digest
(SHA-256) and pivSigner-DN, the subject name of the signer's certificate.
The signer is the issuer key (ECDSA P-256 with SHA-256), named by issuer and
serial number of its content-signing certificate, which the SignedData
carries. That certificate is self-signed (card.certificates), so a PIV
reader that requires a chain to a federal root rejects it; Kartu Bahagia
terminals trust issuer keys through the signed trust list and check the
signature against those keys.
"""

from __future__ import annotations

import hashlib

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec

from card.apdu import parse_tlv, tlv
from card.cose import Signer
from card.keys import raw_to_der, spki_of, verify_der_prehashed
from card.piv_objects import TAG_ERROR_DETECTION, TAG_ISSUER_SIGNATURE, PivObjectError

__all__ = ["ID_PIV_CHUID_SECURITY_OBJECT", "sign_chuid_content", "chuid_signed_content", "verify_chuid_signature"]

ID_PIV_CHUID_SECURITY_OBJECT = "2.16.840.1.101.3.6.1"
PIV_SIGNER_DN = "2.16.840.1.101.3.6.5"


def sign_chuid_content(content: bytes, issuer: Signer, certificate_der: bytes) -> bytes:
    """Return the DER ContentInfo (SignedData) that signs the CHUID elements content with issuer."""
    certificate = asn1_x509.Certificate.load(certificate_der)
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": [cms.ContentType(ID_PIV_CHUID_SECURITY_OBJECT)]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
        cms.CMSAttribute({"type": PIV_SIGNER_DN, "values": [core.Any.load(certificate.subject.dump())]}),
    ]
    # DER orders a SET OF by the encodings of its elements; verifiers re-encode before checking.
    signed_attributes = cms.CMSAttributes(sorted(attributes, key=lambda attribute: attribute.dump()))
    signature = raw_to_der(issuer.sign(signed_attributes.dump()))
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": certificate.issuer, "serial_number": certificate.serial_number,
        })}),
        "digest_algorithm": {"algorithm": "sha256"},
        "signed_attrs": signed_attributes,
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": signature,
    })
    signed_data = cms.SignedData({
        # Version 3 because eContentType is not id-data (RFC 5652, section 5.1).
        "version": "v3",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": ID_PIV_CHUID_SECURITY_OBJECT},
        "certificates": [certificate],
        "signer_infos": [signer_info],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def chuid_signed_content(chuid_value: bytes) -> tuple[bytes, bytes]:
    """Split a CHUID value into the signed elements (re-encoded, before tag 3E) and the tag 3E value."""
    try:
        items = parse_tlv(chuid_value)
    except ValueError as exc:
        raise PivObjectError(f"CHUID is malformed: {exc}") from None
    tags = [tag for tag, _ in items]
    if TAG_ISSUER_SIGNATURE not in tags:
        raise PivObjectError("CHUID has no issuer signature (tag 3E)")
    position = tags.index(TAG_ISSUER_SIGNATURE)
    if any(tag != TAG_ERROR_DETECTION for tag in tags[position + 1 :]):
        raise PivObjectError("CHUID has elements after the issuer signature other than the error detection code")
    content = b"".join(tlv(tag, value) for tag, value in items[:position])
    return content, items[position][1]


def verify_chuid_signature(chuid_value: bytes, issuer_key: ec.EllipticCurvePublicKey) -> None:
    """Check the CHUID's issuer signature with issuer_key; raise PivObjectError naming the first fault."""
    content, signature_object = chuid_signed_content(chuid_value)
    if not signature_object:
        raise PivObjectError("CHUID issuer signature (tag 3E) is empty")
    signed_data, signer_info = _parse_signed_data(signature_object)
    attributes = {attribute["type"].dotted: attribute["values"] for attribute in signer_info["signed_attrs"]}
    content_type = attributes.get("1.2.840.113549.1.9.3")
    if content_type is None or content_type[0].dotted != ID_PIV_CHUID_SECURITY_OBJECT:
        raise PivObjectError("CHUID signature's content-type attribute is not id-PIV-CHUIDSecurityObject")
    digest = attributes.get("1.2.840.113549.1.9.4")
    if digest is None or digest[0].native != hashlib.sha256(content).digest():
        raise PivObjectError("CHUID signature's message digest does not match the CHUID")
    certificates = [choice.chosen for choice in signed_data["certificates"]]
    if len(certificates) != 1 or certificates[0].public_key.dump() != spki_of(issuer_key):
        raise PivObjectError("CHUID signature carries no certificate, or one of another key than the issuer's")
    signed_bytes = signer_info["signed_attrs"].untag().dump(force=True)
    if not verify_der_prehashed(issuer_key, signer_info["signature"].native, hashlib.sha256(signed_bytes).digest()):
        raise PivObjectError("CHUID signature does not verify with the issuer key")


def _parse_signed_data(der: bytes) -> tuple[cms.SignedData, cms.SignerInfo]:
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError(f"content type is {info['content_type'].dotted}, not signed-data")
        signed_data = info["content"]
        encapsulated = signed_data["encap_content_info"]
        if encapsulated["content_type"].dotted != ID_PIV_CHUID_SECURITY_OBJECT:
            raise ValueError("eContentType is not id-PIV-CHUIDSecurityObject")
        if encapsulated["content"].native is not None:
            raise ValueError("eContent is present, but the CHUID signature is detached")
        signer_infos = list(signed_data["signer_infos"])
        if len(signer_infos) != 1:
            raise ValueError(f"{len(signer_infos)} signers, expected 1")
        signer_info = signer_infos[0]
        if signer_info["digest_algorithm"]["algorithm"].native != "sha256":
            raise ValueError("digest algorithm is not SHA-256")
        if signer_info["signature_algorithm"].signature_algo != "ecdsa":
            raise ValueError("signature algorithm is not ECDSA")
        # Parse the certificates and attributes now, so a malformed one raises here and not during the checks.
        for choice in signed_data["certificates"]:
            choice.chosen.public_key.dump()
        for attribute in signer_info["signed_attrs"]:
            attribute["type"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise PivObjectError(f"CHUID signature is not a valid CMS SignedData: {exc}") from None
    return signed_data, signer_info
