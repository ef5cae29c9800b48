"""Persistent state of a reference card: serial, management key, PIN and PUK, data objects and private keys.

The state is a JSON file written with mode 0600 and replaced atomically after
every change, so a card survives a restart of its emulator, as a real card
keeps its memory when it leaves the reader. Retry counters are saved before
the card returns the status word of a wrong PIN or PUK, so pulling the card
cannot undo a try.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from card.piv import DEFAULT_MANAGEMENT_KEY, DEFAULT_PIN, DEFAULT_PUK, PIN_RETRIES, PUK_RETRIES, pad_reference

__all__ = ["CardState", "CardStateError"]

FORMAT = "kartu-reference-card/2"
# Version 1 files predate PIN and PUK; they open with the factory PIN, PUK and retry counters.
OLD_FORMATS = ("kartu-reference-card/1",)


class CardStateError(Exception):
    """A card state file is unreadable or malformed; detail describes the fault."""

    def __init__(self, path: Path, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(f"card state file {path} is unreadable or malformed ({detail}); remove it to start from a blank card")


def _check_private_key(slot: str, pem: bytes) -> None:
    """Raise ValueError unless pem is a P-256 private key, so a damaged key fails at load, not at a tap."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"private key of slot {slot} is not a PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"private key of slot {slot} is not an ECDSA P-256 key")


@dataclass
class CardState:
    path: Path | None
    serial: bytes
    management_key: bytes = DEFAULT_MANAGEMENT_KEY
    objects: dict[str, bytes] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)
    pin: bytes = pad_reference(DEFAULT_PIN)
    puk: bytes = pad_reference(DEFAULT_PUK, digits_only=False)
    pin_retries: int = PIN_RETRIES
    puk_retries: int = PUK_RETRIES

    @classmethod
    def blank(cls, path: Path | None = None) -> "CardState":
        state = cls(path=path, serial=os.urandom(8))
        state.save()
        return state

    @classmethod
    def open(cls, path: str | os.PathLike) -> "CardState":
        """Load the card at path, or create a blank card there when the file does not exist."""
        path = Path(path)
        if not path.exists():
            return cls.blank(path)
        try:
            return cls._from_json(path, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CardStateError(path, str(exc)) from None

    @classmethod
    def _from_json(cls, path: Path, raw: dict) -> "CardState":
        version = raw.get("format")
        if version not in (FORMAT, *OLD_FORMATS):
            raise ValueError(f"format is {version!r}, expected {FORMAT!r}")
        state = cls(
            path=path,
            serial=bytes.fromhex(raw["serial"]),
            management_key=bytes.fromhex(raw["management_key"]),
            objects={k: bytes.fromhex(v) for k, v in raw["objects"].items()},
            keys={k: v.encode("ascii") for k, v in raw["keys"].items()},
        )
        for slot in state.keys:
            _check_private_key(slot, state.keys[slot])
        if version == FORMAT:
            state.pin = bytes.fromhex(raw["pin"])
            state.puk = bytes.fromhex(raw["puk"])
            state.pin_retries = int(raw["pin_retries"])
            state.puk_retries = int(raw["puk_retries"])
        return state

    def save(self) -> None:
        if self.path is None:
            return
        raw = {
            "format": FORMAT,
            "serial": self.serial.hex(),
            "management_key": self.management_key.hex(),
            "pin": self.pin.hex(),
            "puk": self.puk.hex(),
            "pin_retries": self.pin_retries,
            "puk_retries": self.puk_retries,
            "objects": {k: v.hex() for k, v in self.objects.items()},
            "keys": {k: v.decode("ascii") for k, v in self.keys.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(raw, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def put_object(self, object_id: str, value: bytes) -> None:
        """Store value under object_id (six hex digits for a PIV container); an empty value deletes the object."""
        if value:
            self.objects[object_id] = value
        else:
            self.objects.pop(object_id, None)
        self.save()

    def generate_key(self, slot: int) -> bytes:
        """Create a P-256 key in slot, replacing any earlier one; return the uncompressed point."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        self.keys[f"{slot:02x}"] = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.save()
        return private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def private_key(self, slot: int) -> ec.EllipticCurvePrivateKey | None:
        pem = self.keys.get(f"{slot:02x}")
        if pem is None:
            return None
        return serialization.load_pem_private_key(pem, password=None)

    def set_management_key(self, key: bytes) -> None:
        self.management_key = key
        self.save()
