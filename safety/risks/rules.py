"""Pure rules of the risk register: load it, build template definitions, read them back.

A template *definition* is the JSON stored on a TemplateVersion; `Template` is its typed,
read-only view used by the checklist rules. No Flask or SQLAlchemy here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

ITEM_TYPES = {"boolean", "integer", "date", "string", "text", "choice", "multichoice"}


@dataclass(frozen=True)
class Option:
    code: str
    display: str
    #: Severity of the flag this answer raises, if any.
    flag: str | None = None


@dataclass(frozen=True)
class Condition:
    question: str
    operator: str
    answer: Any


@dataclass(frozen=True)
class Item:
    link_id: str
    phase: str
    type: str
    text: str
    required: bool = False
    #: The answer a safe session gives; anything else needs a note and raises a flag.
    expected: Any = None
    options: tuple[Option, ...] = ()
    enable_when: tuple[Condition, ...] = ()
    enable_behavior: str = "all"
    #: Shown only when the needle counts do not reconcile.
    enable_when_counts_differ: bool = False
    #: linkId whose answer this one must equal (needle counts).
    must_equal: str | None = None
    #: "session_date": a date before the session date is refused (needle expiry).
    not_before: str | None = None
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    flag_kind: str | None = None
    risks: tuple[str, ...] = ()
    #: The risk statements this item answers.
    provenance: tuple[str, ...] = ()

    @property
    def is_conditional(self) -> bool:
        return bool(self.enable_when) or self.enable_when_counts_differ

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)


@dataclass(frozen=True)
class Phase:
    id: str
    title: str
    hint: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Template:
    title: str
    phases: tuple[Phase, ...]
    high_risk_regions: tuple[str, ...] = ()
    items_by_id: dict[str, Item] = field(default_factory=dict, compare=False)

    def phase(self, phase_id: str) -> Phase:
        for phase in self.phases:
            if phase.id == phase_id:
                return phase
        raise KeyError(phase_id)

    @property
    def phase_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.phases)

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for p in self.phases for i in p.items)


@dataclass(frozen=True)
class Register:
    title: str
    guidance: tuple[str, ...]
    default_kinds: tuple[str, ...]
    #: kind id -> {"title": ..., "synonyms": [...]}, in catalogue order.
    kinds: dict[str, dict[str, Any]]
    phases: tuple[dict[str, str], ...]
    high_risk_regions: tuple[str, ...]
    items: tuple[dict[str, Any], ...]

    @property
    def synonyms(self) -> dict[str, list[str]]:
        return {kind: spec["synonyms"] for kind, spec in self.kinds.items()}

    def kind_title(self, kind: str) -> str:
        return self.kinds.get(kind, {}).get("title", kind)


@cache
def load_register() -> Register:
    """Return the risk register that ships with the package."""
    data = json.loads(resources.files("safety.risks").joinpath("register.json").read_text("utf-8"))
    return Register(
        title=data["title"],
        guidance=tuple(data["guidance"]),
        default_kinds=tuple(data["default_kinds"]),
        kinds=data["kinds"],
        phases=tuple(data["phases"]),
        high_risk_regions=tuple(data["high_risk_regions"]),
        items=tuple(data["items"]),
    )


def build_definition(
    register: Register,
    kinds: Iterable[str],
    statements: Sequence[tuple[str, Sequence[str]]] = (),
    *,
    title: str | None = None,
) -> dict[str, Any]:
    """Build a template definition: the baseline items plus the controls of every given kind.

    `statements` are (risk statement, its kinds) pairs; each item keeps the statements whose
    kinds it controls, so a reviewer sees why the item is on the checklist.
    """
    wanted = set(kinds)
    phases = []
    for phase in register.phases:
        items = []
        for spec in register.items:
            if spec["phase"] != phase["id"]:
                continue
            risks = set(spec.get("risks", ()))
            if not spec.get("baseline") and not (risks & wanted):
                continue
            item = {k: v for k, v in spec.items() if k not in {"phase", "baseline"}}
            item["provenance"] = [text for text, ks in statements if risks & set(ks)]
            items.append(item)
        phases.append({**phase, "items": items})
    return {
        "title": title or register.title,
        "kinds": [k for k in register.kinds if k in wanted],
        "high_risk_regions": list(register.high_risk_regions),
        "phases": phases,
    }


def template_from_definition(definition: Mapping[str, Any]) -> Template:
    """Read a stored definition into typed, immutable objects."""
    phases = []
    items_by_id: dict[str, Item] = {}
    for phase in definition["phases"]:
        items = []
        for spec in phase["items"]:
            item = Item(
                link_id=spec["linkId"],
                phase=phase["id"],
                type=spec["type"],
                text=spec["text"],
                required=bool(spec.get("required", False)),
                expected=spec.get("expected"),
                options=tuple(
                    Option(o["code"], o["display"], o.get("flag")) for o in spec.get("options", ())
                ),
                enable_when=tuple(
                    Condition(c["question"], c["operator"], c["answer"])
                    for c in spec.get("enableWhen", ())
                ),
                enable_behavior=spec.get("enableBehavior", "all"),
                enable_when_counts_differ=bool(spec.get("enableWhenCountsDiffer", False)),
                must_equal=spec.get("mustEqual"),
                not_before=spec.get("notBefore"),
                min=spec.get("min"),
                max=spec.get("max"),
                max_length=spec.get("maxLength"),
                flag_kind=spec.get("flagKind"),
                risks=tuple(spec.get("risks", ())),
                provenance=tuple(spec.get("provenance", ())),
            )
            if item.type not in ITEM_TYPES:
                raise ValueError(f"unknown item type {item.type!r} for {item.link_id}")
            items.append(item)
            items_by_id[item.link_id] = item
        phases.append(Phase(phase["id"], phase["title"], phase.get("hint", ""), tuple(items)))
    return Template(
        title=definition["title"],
        phases=tuple(phases),
        high_risk_regions=tuple(definition.get("high_risk_regions", ())),
        items_by_id=items_by_id,
    )
