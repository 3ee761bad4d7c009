"""Import a risk section: find it in a leaflet, split it into statements, match risk kinds.

Pure (standard library only) so it is unit-tested without an app; see DESIGN.md §3.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from safety.languages import N_, Said

NO_SECTION_MESSAGE = N_(
    "No risk section found: add a heading such as 'Risks', 'Side effects' or 'Complications'."
)

# Matched against normalised heading text (lowercase, punctuation and hyphens as spaces).
_RISK_HEADING = re.compile(
    r"\b(?:risks?|side effects?|complications?|adverse (?:events?|effects?|reactions?)"
    r"|(?:possible )?(?:harms?|dangers?)|what could go wrong)\b"
)
# Only the opening hashes: the closing ones are stripped by hand (`_atx`), since a pattern such
# as (.*?)[\s#]*$ backtracks quadratically over a long run of spaces.
_ATX_OPEN = re.compile(r" {0,3}(#{1,6})")
_UNDERLINE = re.compile(r"^\s*(?:=+|-{2,})\s*$")
_BOLD_LINE = re.compile(r"^(\*\*|__)(.+?)\1\s*:?$")
# "-" or "*" followed by the same character is a rule or bold text, not a bullet; "1.5" is a number.
_BULLET = re.compile(r"^\s*(?:[•·▪◦‣●–—](?![–—])|[-*](?![-*])|\d{1,2}[.)](?!\d)|\(\d{1,2}\))\s*")
_MARKUP = re.compile(r"\*\*|__|`")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
# A short line ending in ':' with one of these words introduces a list inside the section
# ("Possible risks include:", "Rarely:") rather than starting a new section ("Contact us:").
_LEAD_IN_WORDS = frozenset(
    {
        *("include", "includes", "including", "such", "as", "like", "following", "below"),
        *("are", "is", "be", "may", "might", "can", "could", "will", "would", "these"),
        *("experience", "notice", "feel", "get", "have", "has"),
        *("rare", "rarely", "occasionally", "sometimes", "common", "uncommon", "serious"),
    }
)
#: A line ending with one of these words and no punctuation leads in to a list.
_LEAD_IN_ENDINGS = frozenset({"include", "includes", "including", "following"})
_SUFFIXES = ("ations", "ation", "ions", "ion", "ings", "ing", "ness", "ious", "ous")
_SUFFIXES += ("ed", "es", "s", "e")
_PLAIN_HEADING_MAX = 60
#: A template's title is at most this long (TemplateVersion.title).
_TITLE_MAX = 200
#: The longest text the importer reads (characters). Parsing is linear, so this bounds the
#: work of one import; the web form's own limit (admin.rules.MAX_SOURCE_BYTES) is lower.
MAX_TEXT_CHARS = 1_000_000


class NoRiskSectionError(ValueError):
    """The document has no heading that opens a risk section."""

    def __init__(self, message: str = NO_SECTION_MESSAGE) -> None:
        super().__init__(message)


class TextTooLongError(ValueError):
    """The document is longer than the importer reads."""

    def __init__(self) -> None:
        super().__init__(
            Said(
                N_(
                    "This text is longer than %(max)s characters. "
                    "Import only the risk section of the document."
                ),
                max=f"{MAX_TEXT_CHARS:,}",
            )
        )


@dataclass(frozen=True)
class Statement:
    """One risk statement as written and the catalogue kinds it names."""

    text: str
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class ImportResult:
    """The risk section of a document, ready to become a draft template."""

    heading: str
    statements: tuple[Statement, ...]
    #: Catalogue order of kind ids, so the union below keeps it.
    kind_order: tuple[str, ...] = field(default=(), repr=False)
    #: The document's own title (its first heading or title line), when it has one.
    title: str | None = None

    @property
    def matched_kinds(self) -> tuple[str, ...]:
        """Return every matched kind once, in catalogue order."""
        found = {kind for statement in self.statements for kind in statement.kinds}
        ordered = [kind for kind in self.kind_order if kind in found]
        return tuple(ordered + sorted(found.difference(ordered)))

    @property
    def unmatched(self) -> tuple[str, ...]:
        """Return the statements no kind matched, for the administrator to map by hand."""
        return tuple(s.text for s in self.statements if not s.kinds)


def parse_risk_section(text: str, kinds: Mapping[str, Sequence[str]]) -> ImportResult:
    """Extract the risk section of a document and match each statement to catalogue kinds."""
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLongError
    heading, lines = find_risk_section(text, kinds)
    matcher = _Matcher(kinds)
    statements = tuple(Statement(s, matcher.match(s)) for s in split_statements(lines))
    return ImportResult(heading, statements, tuple(kinds), title=document_title(text))


def document_title(text: str) -> str | None:
    """Return the document's title: its first line when that is a heading or a short line
    standing alone ("Dry needling: patient information"), unless it opens the risk section."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    found = _heading_at(lines, first, lead_ins=True)
    if found is None or _is_risk_heading(found[1]):
        return None
    return found[1][:_TITLE_MAX]


def find_risk_section(
    text: str, kinds: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, list[str]]:
    """Return the heading and body lines of the first risk section.

    With ``kinds``, a plain sub-heading that names a known risk ("Bruising") stays in the
    section as a statement instead of ending it, so a plain-text leaflet loses no risk.
    """
    lines = text.splitlines()
    matcher = _Matcher(kinds or {})
    i = 0
    while i < len(lines):
        found = _heading_at(lines, i, lead_ins=True)
        if found and _is_risk_heading(found[1]):
            level, heading, used = found
            break
        i += found[2] if found else 1
    else:
        raise NoRiskSectionError
    body: list[str] = []
    i += used
    while i < len(lines):
        found = _heading_at(lines, i, lead_ins=False)
        if found is None:
            body.append(lines[i])
            i += 1
            continue
        sub_level, sub_heading, used = found
        names_kind = bool(matcher.match(sub_heading))
        if sub_level <= level and not names_kind and not _is_risk_heading(sub_heading):
            break
        # The blank line keeps the statements either side of a sub-heading apart.
        body += [sub_heading, ""] if names_kind else [""]
        i += used
    return heading, body


def split_statements(lines: Sequence[str]) -> list[str]:
    """Split section lines into statements: one per bullet or sentence."""
    blocks: list[tuple[bool, list[str]]] = []  # (is a bullet, its lines)
    after_blank = True
    listing = False  # after a lead-in, each line up to a blank one is an item without a mark
    for line in lines:
        if not line.strip():
            after_blank = True
            listing = False
            continue
        bullet = _BULLET.match(line)
        if bullet:
            blocks.append((True, [line[bullet.end() :]]))
        elif listing:
            blocks.append((True, [line]))
        elif blocks and _continues(blocks[-1][0], line, after_blank):
            blocks[-1][1].append(line)
        else:
            blocks.append((False, [line]))
        if not bullet and not listing and _is_lead_in(line):
            listing = True
        after_blank = False
    statements: list[str] = []
    for n, (_, block) in enumerate(blocks):
        sentences = _sentences(" ".join(_MARKUP.sub("", " ".join(block)).split()))
        followed_by_bullet = n + 1 < len(blocks) and blocks[n + 1][0]
        if sentences and _is_lead_in(sentences[-1]) and followed_by_bullet:
            sentences.pop()  # a lead-in such as "Possible risks include:" is not a risk
        statements += [s for s in sentences if any(c.isalnum() for c in s)]
    return statements


def match_kinds(statement: str, kinds: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Return the kinds with a synonym in the statement, in catalogue order."""
    return _Matcher(kinds).match(statement)


class _Matcher:
    """The catalogue's synonyms indexed by their first stem, built once per import.

    Looking each statement's words up in the index keeps an import linear in its length:
    trying every synonym at every word made a 200 KB leaflet take half a minute.
    """

    def __init__(self, kinds: Mapping[str, Sequence[str]]) -> None:
        self.order = tuple(kinds)
        self.by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        self.by_joined: dict[str, set[str]] = {}
        for kind, synonyms in kinds.items():
            for synonym in synonyms:
                phrase, joined = _phrase(synonym)
                if not phrase:
                    continue
                self.by_first.setdefault(phrase[0], []).append((kind, phrase))
                self.by_joined.setdefault(joined, set()).add(kind)

    def match(self, statement: str) -> tuple[str, ...]:
        words = _tokens(statement)
        stems = [_stem(word) for word in words]
        # "blood borne" and "bloodborne" must meet whichever way the catalogue spells it.
        compounds = {_stem(a + b) for a, b in zip(words, words[1:], strict=False)} | set(stems)
        found: set[str] = set()
        for i, stem in enumerate(stems):
            for kind, phrase in self.by_first.get(stem, ()):
                if kind not in found and tuple(stems[i : i + len(phrase)]) == phrase:
                    found.add(kind)
        for compound in compounds:
            found |= self.by_joined.get(compound, set())
        return tuple(kind for kind in self.order if kind in found)


@lru_cache(maxsize=4096)
def _phrase(synonym: str) -> tuple[tuple[str, ...], str]:
    """A synonym's stems, and the stem of its words run together, worked out once."""
    words = _tokens(synonym)
    return tuple(_stem(word) for word in words), _stem("".join(words))


def _heading_at(lines: Sequence[str], i: int, *, lead_ins: bool) -> tuple[int, str, int] | None:
    """Return (level, text, lines used) when a heading starts at ``lines[i]``."""
    line = lines[i].strip()
    if not any(c.isalpha() for c in line):
        return None
    if atx := _atx(lines[i]):
        return atx[0], _clean_heading(atx[1]), 1
    next_line = lines[i + 1] if i + 1 < len(lines) else ""
    if _BULLET.match(lines[i]):
        return None
    if _UNDERLINE.match(next_line):
        return (1 if "=" in next_line else 2), _clean_heading(line), 2
    text = _clean_heading(line)
    ends_with_colon = line.rstrip("*_ ").endswith(":")
    if len(text) > _PLAIN_HEADING_MAX or text[-1] in ".,;" or text[0].islower():
        return None
    if ends_with_colon and not lead_ins and _LEAD_IN_WORDS.intersection(_tokens(text)):
        return None
    if not _BOLD_LINE.match(line):
        # A plain line is a heading only when it stands apart from a paragraph.
        if i > 0 and lines[i - 1].strip() and not ends_with_colon:
            return None
        runs_on = next_line.strip() and not _BULLET.match(next_line)
        if runs_on and not ends_with_colon and len(text.split()) > 4:
            return None
    return 1, text, 1


def _atx(line: str) -> tuple[int, str] | None:
    """Return (level, text) of a Markdown "#" heading line, its closing hashes removed."""
    opening = _ATX_OPEN.match(line)
    if opening is None:
        return None
    end = len(line)
    while end > opening.end() and (line[end - 1].isspace() or line[end - 1] == "#"):
        end -= 1
    return len(opening[1]), line[opening.end() : end].strip()


def _is_lead_in(text: str) -> bool:
    """Tell whether a line or sentence introduces a list: it ends with a colon ("Other risks
    associated with it include:"), or with "include" or "the following" and no full stop, as
    leaflets also write it before a list whose items have no bullet marks."""
    words = _tokens(text)
    return text.rstrip("*_ ").endswith(":") or (bool(words) and words[-1] in _LEAD_IN_ENDINGS)


def _continues(is_bullet: bool, line: str, after_blank: bool) -> bool:
    """Tell whether a non-bullet line belongs to the block before it."""
    if _is_lead_in(line):
        return False  # a lead-in starts its own block, so dropping it keeps the bullet above
    return not after_blank or (is_bullet and line[:1].isspace())


def _sentences(text: str) -> list[str]:
    # Each sentence as its pieces, joined once at the end: adding to a growing string would
    # copy it each time, quadratic over a long run of "e.g." abbreviations.
    sentences: list[list[str]] = []
    for piece in _SENTENCE_BREAK.split(text):
        previous = sentences[-1][-1].lower() if sentences else ""
        if previous.endswith(("e.g.", "i.e.")) or (
            previous.endswith(("etc.", "approx.", "vs.")) and not piece[:1].isupper()
        ):
            sentences[-1].append(piece)
        else:
            sentences.append([piece])
    return [" ".join(pieces) for pieces in sentences]


def _clean_heading(text: str) -> str:
    return _MARKUP.sub("", text).strip().rstrip(":").strip()


def _tokens(text: str) -> list[str]:
    # Hyphens, dashes, slashes and punctuation all separate words.
    return re.findall(r"[^\W_]+", text.lower())


def _is_risk_heading(text: str) -> bool:
    return bool(_RISK_HEADING.search(" ".join(_tokens(text))))


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """Strip a common suffix so "sterilized", "sterile" and "sterilisation" meet."""
    word = re.sub(r"iz(e|ed|es|ing|ation|ations)$", r"is\1", word)
    for suffix in _SUFFIXES:
        stem = word[: -len(suffix)]
        # A stem ending in "e" means the suffix was part of the root: "bleed" is not "ble" + "ed".
        if word.endswith(suffix) and len(stem) >= 3 and not stem.endswith("e"):
            word = stem
            break
    # "-ise" verbs share a stem with their root: sterilis(ed) → steril(e), bruis(ing) → bru.
    if word.endswith("is") and len(word) > 4:
        word = word[:-2]
    return word
