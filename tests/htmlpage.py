"""Read a rendered page by element id, as a screen reader or a test would find a field."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""
    depth: int = field(default=0, repr=False)


class ById(HTMLParser):
    """Collect every element that has an id, with its attributes and its text."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, Element] = {}
        self._open: list[Element] = []

    def handle_starttag(self, tag, attrs):
        for element in self._open:
            if element.tag == tag:
                element.depth += 1
        attributes = dict(attrs)
        if attributes.get("id"):
            element = Element(tag, attributes)
            self.found.setdefault(attributes["id"], element)
            if tag not in self.VOID:
                self._open.append(element)

    def handle_endtag(self, tag):
        for element in list(self._open):
            if element.tag == tag:
                if element.depth:
                    element.depth -= 1
                else:
                    self._open.remove(element)

    def handle_data(self, data):
        for element in self._open:
            element.text += data


def elements(response) -> dict[str, Element]:
    """Return every element of a response that has an id, by id."""
    parser = ById()
    parser.feed(response.get_data(as_text=True))
    parser.close()
    return parser.found
