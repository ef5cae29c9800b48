"""Files that show a resident's name and photo (card faces, their PDFs): mode 0600 in a 0700 directory.

Each file is written to a temporary file in the same directory and then
renamed over its final name with os.replace. An interrupted write therefore
leaves the old file or no file under the final name, never a truncated PNG or
PDF. Only a killed process can leave a hidden .tmp file behind.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["ensure_private_directory", "write_private_file"]

log = logging.getLogger(__name__)

PRIVATE_DIRECTORY_MODE = 0o700


def ensure_private_directory(directory: Path) -> Path:
    """Create directory with mode 0700, or restrict an existing one that this user owns to 0700.

    A directory owned by another user keeps its mode, because only its owner may change it.
    The files written into it are still 0600.
    """
    directory.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    status = directory.stat()
    if stat.S_IMODE(status.st_mode) & 0o077 and status.st_uid == os.getuid():
        directory.chmod(PRIVATE_DIRECTORY_MODE)
        log.warning("restricted %s to mode 0700 because it contains card faces", directory)
    return directory


def write_private_file(path: Path, data: bytes) -> Path:
    """Write data to path with mode 0600 through a temporary file in the same directory and os.replace.

    tempfile.mkstemp creates the temporary file with mode 0600, and the rename keeps that mode.
    """
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
