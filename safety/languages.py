"""The languages NeedleSafe speaks, and how a language is chosen (DESIGN §11).

Pure: no Flask. Staff read the interface in their profile's language; a patient is written to
in theirs, whatever their browser says. Codes are the gettext locale names of the catalogues
under safety/translations/ ("en" is the language the source is written in).
"""

from __future__ import annotations

from collections.abc import Iterable

#: Code -> the language's name in itself, as a speaker looks for it in a list.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr_CA": "Français (Canada)",
    "es": "Español",
}
DEFAULT = "en"
#: The SQL the CHECK constraints of `users.language` and `patients.language` hold to.
SQL_CHECK = "language IN ('en', 'fr_CA', 'es')"


def is_language(code: str | None) -> bool:
    return code in LANGUAGES


def html_lang(code: str | None) -> str:
    """Return the BCP 47 tag for `<html lang>` ("fr_CA" is "fr-CA")."""
    return (code if is_language(code) else DEFAULT).replace("_", "-")


def best_match(accepted: Iterable[tuple[str, float]]) -> str:
    """Pick a language from an Accept-Language list of (tag, quality), best quality first.

    French from anywhere reads the Canadian catalogue and Spanish from anywhere the Spanish
    one: a person who asks for fr-FR is far better served by fr-CA than by English.
    """
    ranked = sorted(accepted, key=lambda pair: -pair[1])
    for tag, quality in ranked:
        if quality <= 0:
            continue
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary == "fr":
            return "fr_CA"
        if primary in {"en", "es"}:
            return primary
    return DEFAULT


class Said(str):
    """A message written in English with values in it ("Enter a number of at least 1."), that
    keeps its marked words and its values so `web.translated` can say it again in the reader's
    language. It is the English text everywhere else (logs, the audit trail, comparisons)."""

    msgid: str
    values: dict[str, object]

    def __new__(cls, msgid: str, **values: object) -> Said:
        said = super().__new__(cls, msgid % values)
        said.msgid = msgid
        said.values = values
        return said

    def __mod__(self, values: object) -> Said:
        """Stay said: a WTForms validator formats its message with its own values (`Length`
        with min, max and length), which would turn this into plain English."""
        return self


def N_(text: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark a message for the catalogues where it is written; it is translated where shown.

    Services and rules raise their messages in English (they never see a request, and what
    they record in the audit trail stays in one language); `web.run_use_case` and the error
    pages translate a refusal's message and field errors into the reader's language.
    """
    return text


class Words(str):
    """A template's own words inside a `Said` (a phase's title, an option's display, a count's
    name): not gettext's to translate but the checklist translations' (risks/translations.py),
    which `web.translated` asks, for the item `link_id` where the words belong to one."""

    link_id: str | None

    def __new__(cls, text: str, link_id: str | None = None) -> Words:
        words = super().__new__(cls, text)
        words.link_id = link_id
        return words


class Listed(str):
    """Several messages said as one value ("8 used / 7 removed; 3 opened / 2 disposed"), each
    said again in the reader's language by `web.translated` and joined the same way."""

    parts: tuple[str, ...]
    separator: str

    def __new__(cls, parts: Iterable[str], separator: str = "; ") -> Listed:
        parts = tuple(parts)
        listed = super().__new__(cls, separator.join(parts))
        listed.parts = parts
        listed.separator = separator
        return listed
