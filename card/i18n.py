"""Message catalogues: user-facing text in Bahasa Indonesia (default) and English.

Source strings are English and marked with N_() for Babel extraction; the
Indonesian catalogue is card/locale/id/LC_MESSAGES/kartu.po, compiled to .mo.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path

__all__ = [
    "DOMAIN", "LOCALE_DIR", "LANGUAGES", "DEFAULT_LANGUAGE", "N_", "translate", "gettext_for", "TranslatedError",
]

DOMAIN = "kartu"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"


def N_(message: str) -> str:
    """Mark message for extraction without translating it yet."""
    return message


@lru_cache(maxsize=None)
def gettext_for(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not supported; use one of {', '.join(LANGUAGES)}")
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language])


def translate(message: str, language: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """Translate an English source message and fill in its {named} parameters."""
    text = gettext_for(language).gettext(message)
    return text.format(**params) if params else text


class TranslatedError(Exception):
    """An error built from a catalogue template and its parameters.

    str() of the error is the English text, for logs and tracebacks;
    message(language) is the text for the person at the screen.
    """

    def __init__(self, template: str, **params: object):
        self.template = template
        self.params = params
        super().__init__(self.message("en"))

    def message(self, language: str = DEFAULT_LANGUAGE) -> str:
        return translate(self.template, language, **self.params)
