"""APDU round-trip time through pyscard, pcscd and vpcd to the reference card.

Measures, on 'Virtual PCD 00 00':
  * the reference card as shipped (`kartu card emulate` in its own process),
  * the baseline: the same card behind a plain blocking socket loop without
    TCP_QUICKACK, in this process's thread.
Prints median, p95 and max per APDU in milliseconds, and the ratio of the
medians. Run with `make bench` or `.venv/bin/python bench/apdu.py [--count N]`.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from card.apdu import build_apdu
from card.piv import PIV_AID
from card.reference import ATR, ReferenceCard
from card.reference_state import CardState
from hardware.pcsc import PcscContext

READER = "Virtual PCD 00 00"
SELECT = build_apdu(0x00, 0xA4, 0x04, 0x00, PIV_AID, le=0)


def measure(context: PcscContext, count: int) -> list[float]:
    context.wait_for_card(READER, 15)
    with context.connect(READER) as connection:
        for _ in range(20):
            connection.send_and_receive(SELECT)
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            connection.send_and_receive(SELECT)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def baseline_card(sock: socket.socket) -> None:
    """A plain blocking loop: no TCP_NODELAY or TCP_QUICKACK, as a first attempt would be."""
    card = ReferenceCard(CardState.blank(None))

    def read(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    try:
        while True:
            (length,) = struct.unpack(">H", read(2))
            message = read(length)
            if length == 1:
                if message[0] == 4:
                    sock.sendall(struct.pack(">H", len(ATR)) + ATR)
                continue
            response = card.process(message)
            sock.sendall(struct.pack(">H", len(response)))
            sock.sendall(response)
    except (EOFError, OSError):
        pass


def summarise(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"{name:<34} n={len(samples):5d}  median {median:8.3f} ms  p95 {p95:8.3f} ms  max {ordered[-1]:8.3f} ms")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="APDUs per measurement (default 2000)")
    parser.add_argument("--baseline-count", type=int, default=50, help="APDUs for the slow baseline (default 50)")
    args = parser.parse_args()

    with PcscContext() as context, tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(
            [sys.executable, "-m", "kartu", "card", "emulate", "--state", str(Path(tmp) / "card.json")],
            stdout=subprocess.DEVNULL,
        )
        try:
            shipped = summarise("reference card (kartu card emulate)", measure(context, args.count))
        finally:
            process.terminate()
            process.wait()
            context.wait_for_removal(READER, 15)

        sock = socket.create_connection(("127.0.0.1", 35963))
        thread = threading.Thread(target=baseline_card, args=(sock,), daemon=True)
        thread.start()
        try:
            baseline = summarise("baseline: plain blocking loop", measure(context, args.baseline_count))
        finally:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            thread.join(timeout=5)
            context.wait_for_removal(READER, 15)
    print(f"ratio shipped/baseline (median): {shipped / baseline:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
