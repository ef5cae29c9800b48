"""Send a card-face PDF to a CUPS print queue with the `lp` command from the CUPS client tools."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

from card.i18n import N_, TranslatedError

__all__ = ["ID1_MEDIA", "PrintError", "check_queue_name", "list_queues", "print_pdf"]

log = logging.getLogger(__name__)

# CUPS custom media size for an ID-1 card. Without it CUPS scales the page onto the
# queue's default media (A4 on most Debian installs).
ID1_MEDIA = "Custom.85.6x53.98mm"
LP_TIMEOUT_SECONDS = 30
# CUPS accepts any printable name without space, "/", "#" or "\". This stricter rule
# also keeps a name from starting with "-", so lp never reads it as an option.
QUEUE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,126}")
REQUEST_ID = re.compile(r"request id is (\S+)")


class PrintError(TranslatedError):
    """Printing failed; str() is the English message and message(language) the translated one."""


def check_queue_name(queue: str) -> str:
    """Return queue unchanged if it is a valid CUPS queue name, else raise PrintError."""
    if not QUEUE_NAME.fullmatch(queue):
        raise PrintError(
            N_("Invalid print queue name {queue!r}: use letters, digits, '_', '.', '@' or '-', "
               "not starting with '-'. The command 'lpstat -e' lists the queues."),
            queue=queue,
        )
    return queue


def print_pdf(pdf: Path, queue: str, title: str, copies: int = 1) -> str:
    """Print pdf on queue at ID-1 size and return the CUPS job id, e.g. "kartu-pdf-12".

    title becomes the job name that lpstat shows to every user of the machine, so pass
    the card number, never the resident's name or NIK.
    """
    check_queue_name(queue)
    if not 1 <= copies <= 10:
        raise PrintError(N_("Invalid number of copies {copies}: give 1 to 10."), copies=copies)
    lp = _client_tool("lp")
    command = [lp, "-d", queue, "-t", title, "-n", str(copies), "-o", f"media={ID1_MEDIA}", "--", str(pdf)]
    job = _submit(command, queue)
    log.info("card face %s sent to queue %s as job %s", title, queue, job)
    return job


def print_text_files(paths: list[Path], queue: str, title: str) -> str:
    """Print plain-text files on queue as one job and return the CUPS job id; title as for print_pdf."""
    check_queue_name(queue)
    command = [_client_tool("lp"), "-d", queue, "-t", title, "--",
               *(str(path) for path in paths)]
    job = _submit(command, queue)
    log.info("%s sent to queue %s as job %s", title, queue, job)
    return job


def _submit(command: list[str], queue: str) -> str:
    """Run an lp command and return the CUPS job id it printed; raise PrintError when lp failed."""
    result = _run(command)
    match = REQUEST_ID.search(result.stdout)
    if result.returncode != 0 or match is None:
        # lp ends its own sentences with a full stop, and the message adds one after the detail.
        detail = (result.stderr or result.stdout).strip().rstrip(".") or f"exit status {result.returncode}"
        log.warning("lp failed for queue %s: %s", queue, detail)
        # lp reports an unknown queue only in words ("The printer or class does not exist.").
        if "does not exist" in detail:
            raise PrintError(
                N_("Print queue {queue} does not exist. List the queues with 'lpstat -e' and give one of them."),
                queue=queue,
            )
        raise PrintError(
            N_("Printing to queue {queue} failed: {detail}. Check the printer with 'lpstat -p {queue}'."),
            queue=queue, detail=detail,
        )
    return match.group(1)


def list_queues() -> list[str]:
    """Return the names of the CUPS queues (lpstat -e), or an empty list when none is configured."""
    result = _run([_client_tool("lpstat"), "-e"])
    if result.returncode != 0:
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _client_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrintError(
            N_("The CUPS command {name} is not installed. Install the Debian package cups-client, "
               "or save the PDF and print it from another computer."),
            name=name,
        )
    return path


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=LP_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise PrintError(
            N_("The CUPS command {name} did not finish within {seconds} seconds. Check that cupsd is running."),
            name=Path(command[0]).name, seconds=LP_TIMEOUT_SECONDS,
        ) from None
