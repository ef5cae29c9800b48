"""The publication directory: where signed trust and revocation lists are put for terminals to fetch.

Layout (every file is COSE_Sign1 bytes):
  trustlist.cose                    the latest trust list
  revocations/full.cose             the latest full revocation list
  revocations/delta-<V>.cose        the delta from version V-1 to version V
  revocations/latest                the latest version as decimal text
The directory can be served over HTTP, copied to a USB stick or synced; a
terminal reads it with terminal.trust.DirectorySource. Files are replaced
atomically (write, fsync, rename), so a reader never sees half a list.

RevocationPublisher keeps the revocation state in the directory itself: the
current set is the latest full list, verified with the publishing key before
each change.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from card.keys import kid_of
from card.revocation import ListKind, RevocationError, RevocationList, decode_revocation_list, sign_revocation_list
from card.signing import Signer

__all__ = [
    "TRUST_LIST_FILE",
    "REVOCATIONS_DIR",
    "FULL_REVOCATIONS_FILE",
    "LATEST_VERSION_FILE",
    "delta_file_name",
    "write_atomically",
    "publish_trust_list",
    "RevocationPublisher",
]

log = logging.getLogger(__name__)

TRUST_LIST_FILE = "trustlist.cose"
REVOCATIONS_DIR = "revocations"
FULL_REVOCATIONS_FILE = "full.cose"
# An unsigned hint: a terminal reads it only to decide whether to fetch the full
# list, which is verified like every list, so a wrong hint costs a fetch at most.
LATEST_VERSION_FILE = "latest"


def delta_file_name(version: int) -> str:
    return f"delta-{version}.cose"


def write_atomically(path: Path, data: bytes) -> None:
    """Write data to path through a temporary file, fsync and rename, so readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def publish_trust_list(directory: Path, signed_list: bytes) -> Path:
    path = directory / TRUST_LIST_FILE
    write_atomically(path, signed_list)
    return path


class RevocationPublisher:
    """Publishes revocation lists into a directory, signed by the sync key.

    previous_keys are public keys of earlier sync keys, so that after a sync
    key rotation the publisher can still verify the last full list.
    """

    def __init__(self, directory: Path, signer: Signer, previous_keys: Iterable[ec.EllipticCurvePublicKey] = ()):
        self.directory = directory / REVOCATIONS_DIR
        self.signer = signer
        self._keys = {kid_of(key): key for key in previous_keys}
        self._keys[signer.kid] = signer.public_key

    def current(self) -> RevocationList | None:
        """Return the latest published full list, verified with this publisher's key, or None before the first."""
        path = self.directory / FULL_REVOCATIONS_FILE
        if not path.exists():
            return None
        revocations = decode_revocation_list(path.read_bytes(), self._keys)
        if revocations.kind is not ListKind.FULL:
            raise RevocationError(f"{path} contains a delta, not a full revocation list")
        return revocations

    def publish(self, revoke: Iterable[int] = (), reinstate: Iterable[int] = (), issued_at: int | None = None) -> RevocationList:
        """Publish the next version: the delta from the current version and the new full list.

        Serials already revoked are not added again and serials not revoked
        are not removed, so repeating a call changes nothing but the version.
        Raises RevocationError when a serial is both revoked and reinstated.
        """
        revoke, reinstate = set(revoke), set(reinstate)
        if revoke & reinstate:
            raise RevocationError(f"serials {sorted(revoke & reinstate)[:5]} are both revoked and reinstated")
        issued_at = int(time.time()) if issued_at is None else issued_at
        current = self.current()
        held = set(current.added) if current else set()
        added, removed = revoke - held, reinstate & held
        revoked = (held | added) - removed
        version = (current.version if current else 0) + 1
        full = RevocationList(ListKind.FULL, version, issued_at, array("Q", sorted(revoked)), count=len(revoked))
        delta = RevocationList(
            ListKind.DELTA, version, issued_at, array("Q", sorted(added)), count=len(revoked),
            base_version=version - 1, removed=array("Q", sorted(removed)),
        )
        # The delta goes first and the hint last, so a reader that sees a version can fetch it.
        write_atomically(self.directory / delta_file_name(version), sign_revocation_list(delta, self.signer))
        write_atomically(self.directory / FULL_REVOCATIONS_FILE, sign_revocation_list(full, self.signer))
        write_atomically(self.directory / LATEST_VERSION_FILE, f"{version}\n".encode("ascii"))
        log.info("published revocation list version %d: %d revoked, %d added, %d removed",
                 version, len(revoked), len(added), len(removed))
        return full
