"""The terminal store contains redemption records, so its files are readable by the owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from terminal.store import TerminalStore


def modes(path: Path) -> dict[str, int]:
    """Return the permission bits of the store file and its -wal and -shm files, by file name."""
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return {file.name: stat.S_IMODE(file.stat().st_mode) for file in files if file.exists()}


def test_new_store_files_owner_only(tmp_path) -> None:
    path = tmp_path / "terminal.db"
    previous = os.umask(0o022)
    try:
        store = TerminalStore(path)
        store.set_meta({"terminal_id": "T-1"})
        found = modes(path)
        store.close()
    finally:
        os.umask(previous)

    assert set(found) == {"terminal.db", "terminal.db-wal", "terminal.db-shm"}
    for name, mode in found.items():
        assert mode == 0o600, f"{name} has mode {mode:o}"


def test_existing_store_tightened(tmp_path) -> None:
    path = tmp_path / "terminal.db"
    TerminalStore(path).close()
    os.chmod(path, 0o644)

    store = TerminalStore(path)
    store.set_meta({"terminal_id": "T-1"})
    found = modes(path)
    store.close()

    for name, mode in found.items():
        assert mode == 0o600, f"{name} has mode {mode:o}"
