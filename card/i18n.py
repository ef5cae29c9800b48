"""Message catalogues: user-facing text in Bahasa Indonesia (default) and English.

Source strings are English and marked with N_() for Babel extraction; the
Indonesian catalogue is card/locale/id/LC_MESSAGES/kartu.po, compiled to .mo.
"""

from __future__ import annotations

import gettext
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "DOMAIN", "LOCALE_DIR", "LANGUAGES", "DEFAULT_LANGUAGE", "N_", "Nn_", "translate", "translate_plural",
    "gettext_for", "Localized", "Counted", "TranslatedError", "set_argument_language", "argument_language",
]

DOMAIN = "kartu"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LANGUAGE_ENV = "KARTU_LANG"

# The --lang value parsed so far, for messages that argparse type functions raise before the command runs.
_argument_language: str | None = None


def N_(message: str) -> str:
    """Mark message for extraction without translating it yet."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a counted message's singular and plural English forms for extraction (keyword Nn_:1,2)."""
    return singular, plural


class Localized(ABC):
    """A message parameter whose text depends on the language, such as a programme name or a counted unit.

    translate() and translate_plural() replace such a parameter with
    localize(language) before filling in the message.
    """

    @abstractmethod
    def localize(self, language: str) -> str:
        """Return the text of this value in language."""


@dataclass(frozen=True)
class Counted(Localized):
    """A count as a message parameter, shown in the singular or plural form (from Nn_) that gettext picks."""

    forms: tuple[str, str]
    count: int

    def localize(self, language: str) -> str:
        return translate_plural(self.forms, self.count, language)


def _localize(params: dict[str, object], language: str) -> dict[str, object]:
    return {key: value.localize(language) if isinstance(value, Localized) else value for key, value in params.items()}


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
    return text.format(**_localize(params, language)) if params else text


def translate_plural(forms: tuple[str, str], count: int, language: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """Translate a counted message (forms from Nn_) with gettext's ngettext and fill in {count} and params."""
    singular, plural = forms
    text = gettext_for(language).ngettext(singular, plural, count)
    return text.format(count=count, **_localize(params, language))


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


def set_argument_language(language: str | None) -> None:
    """Set the language of messages raised while the command line is parsed; None falls back to $KARTU_LANG."""
    global _argument_language
    _argument_language = language


def argument_language() -> str:
    """Return the --lang value parsed so far, else $KARTU_LANG when it names a language, else the default.

    argparse parses `kartu --lang en server --db X` left to right, so a type
    function of a subcommand option reads the --lang given before the subcommand.
    """
    if _argument_language is not None:
        return _argument_language
    language = os.environ.get(LANGUAGE_ENV, DEFAULT_LANGUAGE)
    return language if language in LANGUAGES else DEFAULT_LANGUAGE
