"""Gettext catalogue checks: current template, complete Indonesian translations, compiled .mo.

After changing user-facing text, run `make catalogs`, translate the new entries in
card/locale/id/LC_MESSAGES/kartu.po and run `make catalogs` again to compile them.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from card.i18n import DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
PO_PATH = LOCALE_DIR / "id" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO_PATH = PO_PATH.with_suffix(".mo")


def read_catalog(path: Path) -> Catalog:
    with open(path, "rb") as stream:
        return read_po(stream)


def message_ids(catalog: Catalog) -> set[str | tuple[str, str]]:
    # The entry with the empty msgid is the catalogue header, not a message. A plural message's id is a
    # (singular, plural) tuple.
    return {message.id for message in catalog if message.id}


def forms(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """Return the forms of a msgid or msgstr: one for a plain message, several for a plural one."""
    return text if isinstance(text, tuple) else (text,)


def placeholders(text: str) -> set[str]:
    """Return the str.format field names in text, such as {"value", "line"}."""
    try:
        return {field for _, field, _, _ in Formatter().parse(text) if field is not None}
    except ValueError as error:
        raise ValueError(f"invalid format string {text!r}: {error}") from error


def test_template_matches_source_text(tmp_path):
    # Same extraction as the Makefile target `catalogs`.
    extracted_path = tmp_path / f"{DOMAIN}.pot"
    subprocess.run(
        [
            sys.executable, "-m", "babel.messages.frontend", "extract",
            "--mapping", "babel.cfg", "--keywords", "N_", "--keywords", "Nn_:1,2", "--keywords", "translate",
            "--no-location", "--sort-output", "--project", "kartu-bahagia",
            "--output-file", str(extracted_path), ".",
        ],
        cwd=ROOT, check=True, capture_output=True,
    )

    extracted = message_ids(read_catalog(extracted_path))
    template = message_ids(read_catalog(TEMPLATE_PATH))

    assert sorted(extracted - template, key=str) == [], "source text missing from kartu.pot: run 'make catalogs'"
    assert sorted(template - extracted, key=str) == [], "kartu.pot has text no longer in the source: run 'make catalogs'"


def test_every_message_translated():
    template = read_catalog(TEMPLATE_PATH)
    translations = read_catalog(PO_PATH)

    missing = sorted((message.id for message in template if message.id and message.id not in translations), key=str)
    empty = sorted((message.id for message in translations if message.id and not all(forms(message.string))), key=str)
    fuzzy = sorted((message.id for message in translations if message.id and message.fuzzy), key=str)

    assert missing == [], "messages missing from kartu.po: run 'make catalogs'"
    assert empty == [], "messages without an Indonesian translation in kartu.po"
    assert fuzzy == [], "fuzzy translations in kartu.po: check each one and remove its fuzzy flag"


def test_po_has_only_template_messages():
    translations = read_catalog(PO_PATH)

    assert sorted(message_ids(translations) - message_ids(read_catalog(TEMPLATE_PATH)), key=str) == []
    assert sorted(translations.obsolete) == [], "obsolete (#~) entries in kartu.po: delete them"


def test_po_header_not_fuzzy():
    # pybabel compile skips a catalogue whose header is marked fuzzy, leaving the old .mo in place.
    assert not read_catalog(PO_PATH).fuzzy, "remove '#, fuzzy' above the header (msgid \"\") of kartu.po"


def test_mo_matches_po():
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(PO_PATH))

    assert MO_PATH.read_bytes() == compiled.getvalue(), "kartu.mo is out of date: run 'make catalogs'"


def test_translations_keep_placeholders():
    translations = read_catalog(PO_PATH)
    translated = [message for message in translations if message.id and all(forms(message.string))]

    # A placeholder the translation drops loses a value from the message, and one it adds
    # makes translate() raise KeyError. Every form of a plural message is checked against its msgid forms.
    def fields(text: str | tuple[str, ...]) -> set[str]:
        return set().union(*(placeholders(form) for form in forms(text)))

    dropped = {message.id: fields(message.id) - fields(message.string) for message in translated}
    added = {message.id: fields(message.string) - fields(message.id) for message in translated}

    assert {msgid: fields for msgid, fields in dropped.items() if fields} == {}
    assert {msgid: fields for msgid, fields in added.items() if fields} == {}
