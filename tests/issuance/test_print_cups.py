"""Printing a card face through a real CUPS queue whose device is cups-pdf (Debian printer-driver-cups-pdf)."""

import argparse
import os
import re
import shutil
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from card.cardnumber import make_card_number
from issuance import cups, print_cli
from issuance.cups import PrintError, check_queue_name, list_queues, print_pdf
from issuance.face import CardFace
from issuance.illustrated import portrait_jpeg
from issuance.print_face import write_face_files
from issuance.web.app import create_app
from tests.issuance.test_web_app import resident_path
from tests.issuance.web_support import TEST_TOKEN, guard_for, make_web_station

CUPS_PDF_PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
CUPSD_SOCKET = Path("/run/cups/cups.sock")
QR_TEXT = "KB1:NCFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N8IVLXJQ8W9HM4+FK79"
JOB_DEADLINE_SECONDS = 60


def skip_or_fail(reason: str):
    """Skip on a developer machine without CUPS; in CI (CI set) the missing queue is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must be able to print to a cups-pdf queue")
    pytest.skip(reason)


def ensure_cupsd() -> None:
    if subprocess.run(["lpstat", "-r"], capture_output=True, text=True).stdout.startswith("scheduler is running"):
        return
    if shutil.which("cupsd") is None or os.geteuid() != 0:
        skip_or_fail("cupsd is not running and cannot be started here")
    subprocess.run(["cupsd"], check=True)
    deadline = time.monotonic() + 10
    while not CUPSD_SOCKET.exists():
        if time.monotonic() > deadline:
            skip_or_fail("cupsd did not create its socket within 10 s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pdf_queue():
    if shutil.which("lpadmin") is None or not CUPS_PDF_PPD.exists():
        skip_or_fail("CUPS (cups, cups-client) or printer-driver-cups-pdf is not installed")
    ensure_cupsd()
    queue = f"kartu-test-pdf-{os.getpid()}"
    subprocess.run(["lpadmin", "-p", queue, "-E", "-v", "cups-pdf:/", "-P", str(CUPS_PDF_PPD)],
                   check=True, capture_output=True)
    yield queue
    subprocess.run(["lpadmin", "-x", queue], check=False, capture_output=True)


def card_face() -> CardFace:
    return CardFace(
        name="BUDI SANTOSO", card_number=make_card_number(4242), kelurahan="Pasir Putih", kecamatan="Jambi Selatan",
        issued=date(2026, 12, 4), expires=date(2031, 12, 3), photo=None, qr_text=QR_TEXT,
    )


def wait_for_output(job_id: str) -> Path:
    """Poll until cups-pdf has written the job's PDF into the submitting user's ~/PDF."""
    job_number = job_id.rsplit("-", 1)[1]
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        matches = list((Path.home() / "PDF").glob(f"*job_{job_number}.pdf"))
        pending = subprocess.run(["lpstat", "-o"], capture_output=True, text=True).stdout
        if matches and job_id not in pending:
            return matches[0]
        time.sleep(0.2)
    pytest.fail(f"cups-pdf wrote no PDF for job {job_id} within {JOB_DEADLINE_SECONDS} s")


def pdf_page_size(path: Path) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    width, height = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups()
    return float(width), float(height)


def test_print_writes_id1_pdf(pdf_queue, tmp_path):
    files = write_face_files(card_face(), tmp_path)

    job_id = print_pdf(files.pdf, pdf_queue, title=card_face().card_number)
    output = wait_for_output(job_id)

    assert job_id.startswith(pdf_queue + "-")
    assert output.read_bytes().startswith(b"%PDF-")
    if shutil.which("pdfinfo") is None:
        pytest.skip("pdfinfo (poppler-utils) is not installed, so the page size is not checked")
    width, height = pdf_page_size(output)
    output.unlink()
    # cups-pdf rounds the custom media to whole points: 85.60 x 53.98 mm is 242.6 x 153.0 pt.
    assert width == pytest.approx(242.6, abs=1)
    assert height == pytest.approx(153.0, abs=1)


def test_printed_back_page_qr_decodes(pdf_queue, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    files = write_face_files(card_face(), tmp_path)

    output = wait_for_output(print_pdf(files.pdf, pdf_queue, title="qr-check"))
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-f", "2", "-l", "2", str(output), str(tmp_path / "printed")],
                   check=True)
    output.unlink()
    [page] = list(tmp_path.glob("printed*.png"))
    with Image.open(page) as image:
        barcodes = zxingcpp.read_barcodes(image)

    assert [barcode.text for barcode in barcodes] == [QR_TEXT]


def test_queue_listed(pdf_queue):
    assert pdf_queue in list_queues()


def test_unknown_queue_rejected(pdf_queue, tmp_path):
    files = write_face_files(card_face(), tmp_path)

    with pytest.raises(PrintError, match="kartu-no-such-queue") as caught:
        print_pdf(files.pdf, "kartu-no-such-queue", title="x")

    assert caught.value.message("en") == ("Print queue kartu-no-such-queue does not exist. List the queues with "
                                          "'lpstat -e' and give one of them.")
    assert caught.value.message("id").startswith("Antrean cetak kartu-no-such-queue tidak ada.")


def test_lp_failure_detail_ends_one_sentence(monkeypatch, tmp_path):
    failed = subprocess.CompletedProcess(["lp"], 1, stdout="", stderr="lp: Error - the job was cancelled.\n")
    monkeypatch.setattr(cups, "_run", lambda command: failed)
    monkeypatch.setattr(cups, "_client_tool", lambda name: name)

    with pytest.raises(PrintError) as caught:
        print_pdf(tmp_path / "face.pdf", "kartu-queue", title="x")

    message = caught.value.message("en")
    assert "the job was cancelled. Check the printer" in message
    assert ".." not in message


@pytest.mark.parametrize("queue", ["-o", "", "two words", "a/b", "x" * 200])
def test_invalid_queue_name_rejected(queue):
    with pytest.raises(PrintError, match="Invalid print queue name"):
        check_queue_name(queue)


def test_copies_out_of_range_rejected(tmp_path):
    with pytest.raises(PrintError, match="copies"):
        print_pdf(tmp_path / "card.pdf", "kartu", title="x", copies=0)


def test_missing_lp_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(cups.shutil, "which", lambda name: None)

    with pytest.raises(PrintError, match="not installed") as caught:
        print_pdf(tmp_path / "card.pdf", "kartu", title="x")

    assert "lp" in caught.value.message("id")


def test_web_print_button_sends_job(pdf_queue, tmp_path):
    web = make_web_station(tmp_path, print_queue=pdf_queue)
    base = "http://127.0.0.1:8481"
    with TestClient(create_app(web.settings, guard_for(8481)), base_url=base) as client:
        client.get(f"/login?token={TEST_TOKEN}")
        path = resident_path(client, web.residents[0].nik)
        page = client.get(path).text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        client.post(f"{path}/photo", data={"csrf": token}, files={"photo": ("a.jpg", portrait_jpeg(seed=1))})
        card_url = client.post(f"{path}/issue", data={"csrf": token}, follow_redirects=False).headers["location"]

        printed = client.post(f"{card_url}/print", data={"csrf": token})

    assert printed.status_code == 200
    job_id = re.search(r'id="printed">[^<]*?(kartu-test-pdf-\d+-\d+)', printed.text).group(1)
    output = wait_for_output(job_id)
    assert output.read_bytes().startswith(b"%PDF-")
    output.unlink()


def run_print_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kartu")
    parser.add_argument("--lang", default="en")
    commands = parser.add_subparsers(dest="command", required=True)
    print_cli.add_commands(commands)
    args = parser.parse_args(["--lang", "en", "print", *argv])
    return args.handler(args)


def test_print_command_sends_issued_face(pdf_queue, tmp_path, capsys):
    face = card_face()
    write_face_files(face, tmp_path / "faces")
    (tmp_path / "faces" / f"{face.card_number}.pdf").unlink()

    status = run_print_command(["--station", str(tmp_path), "--card", face.card_number, "--queue", pdf_queue])

    out = capsys.readouterr().out
    assert status == 0
    assert (tmp_path / "faces" / f"{face.card_number}.pdf").exists()
    job_id = re.search(rf"({re.escape(pdf_queue)}-\d+)", out).group(1)
    output = wait_for_output(job_id)
    assert output.read_bytes().startswith(b"%PDF-")
    output.unlink()


def test_print_command_without_face(tmp_path, capsys):
    status = run_print_command(["--station", str(tmp_path), "--card", card_face().card_number])

    assert status == 2
    assert "missing or unreadable" in capsys.readouterr().err


def test_print_command_invalid_card(tmp_path, capsys):
    status = run_print_command(["--station", str(tmp_path), "--card", "1234"])

    assert status == 2
    assert "Invalid card number" in capsys.readouterr().err
