"""Pure rules of the risk register: load it, build template definitions, read them back.

A template *definition* is the JSON stored on a TemplateVersion; `Template` is its typed,
read-only view used by the checklist rules. No Flask or SQLAlchemy here.

The register ships in versions (register_v1.json, register.json): a published template keeps
the definition it was built from, so sessions started on version 1 keep version 1's items
and rules. Version 2 carries each item's sources, which a definition copies in full, so a
template says why each item is there for as long as it exists.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

ITEM_TYPES = {"boolean", "integer", "date", "string", "text", "choice", "multichoice"}
#: The register new templates are built from, and the earlier ones kept for old sessions.
CURRENT_REGISTER = 6
#: Version 3 (2026-12-07) adds the stops at "No" to a current authorisation and to sterile,
#: intact packs, and "no more needles used than opened"; a clinic on version 2 gets it
#: published as its next template (`publish_default`), as version 2 came after version 1.
#: Version 4 (2026-12-07) makes a needle not intact on removal a critical "broken needle"
#: flag that offers an adverse event report, not a deviation like any other (a clinical
#: review): a fragment may be left in the patient, and the device may need reporting.
#: Version 5 (2026-12-07) stops a session at Sign in, as consent does, where needling would be
#: unsafe (a clinical review): the patient and the sites not confirmed (by a carer or an
#: interpreter when the patient cannot), infected or broken skin at the sites. It also says two
#: double negatives plainly ("No infection or broken skin" answered "Yes"), and a template
#: still in the older words takes the new ones.
#: Version 6 (2026-12-07) makes a patient not fit to leave a critical "not fit to leave" flag
#: that offers an adverse event report, as version 4 did for a broken needle (a clinical
#: review): a patient who fainted or is breathless at the end of the session is a safety
#: event that compliance reads first, not a deviation like a skipped tick.
REGISTER_FILES = {
    1: "register_v1.json",
    2: "register_v2.json",
    3: "register_v3.json",
    4: "register_v4.json",
    5: "register_v5.json",
    6: "register.json",
}
#: What a register item may say about the flag its unexpected answer raises, carried into a
#: template built on an earlier register as a stop is (`carried_forward`).
FLAG_FIELDS = ("flagKind", "flag")


@dataclass(frozen=True)
class Source:
    """Where an item, a time or a threshold comes from: a citation and, where public, a link."""

    citation: str
    url: str | None = None
    #: A threshold or rule the product chose, said plainly rather than dressed as evidence.
    design_choice: bool = False


@dataclass(frozen=True)
class Stop:
    """An answer that stops the session where it is (consent "No"): no later phase, no signing."""

    answer: Any
    message: str


@dataclass(frozen=True)
class CountCheck:
    """Two needle counts compared at sign out, and the words that name them: equal, or (with
    `at_most`) the first no more than the second (no more needles used than opened)."""

    counted: str
    against: str
    words: tuple[str, str]
    at_most: bool = False

    def fails(self, counted: int, against: int) -> bool:
        return counted > against if self.at_most else counted != against


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
    #: The severity of the flag an unexpected yes/no answer raises (high when not said).
    flag: str | None = None
    risks: tuple[str, ...] = ()
    #: The risk statements this item answers.
    provenance: tuple[str, ...] = ()
    #: Why the item is on the checklist, in a sentence, and the sources behind it.
    why: str = ""
    sources: tuple[Source, ...] = ()
    #: An answer that stops the session (see Stop).
    stop: Stop | None = None
    #: The option of a multiple choice that cannot be combined with the others ("none").
    exclusive: str | None = None

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
    #: The needle counts that must reconcile; empty on version 1, which compares inserted,
    #: removed and disposed all together (see checklists.rules.count_mismatches).
    count_checks: tuple[CountCheck, ...] = ()
    #: The register version the template was built from (1 for definitions that predate it).
    register_version: int = 1

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
    version: int = 1
    #: source id -> {"citation", "url"?, "design_choice"?}
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    count_checks: tuple[dict[str, Any], ...] = ()
    #: The follow-up times, escalations and thresholds with their sources (DESIGN §4).
    followup: dict[str, Any] = field(default_factory=dict)
    #: Published minor-event rates the dashboard compares clinics with.
    baselines: tuple[dict[str, Any], ...] = ()

    @property
    def synonyms(self) -> dict[str, list[str]]:
        return {kind: spec["synonyms"] for kind, spec in self.kinds.items()}

    def kind_title(self, kind: str) -> str:
        return self.kinds.get(kind, {}).get("title", kind)

    def source(self, source_id: str) -> Source:
        spec = self.sources[source_id]
        return Source(spec["citation"], spec.get("url"), bool(spec.get("design_choice")))

    @property
    def baseline_link_ids(self) -> tuple[str, ...]:
        """The items every template built from this register has, whatever a text names."""
        return tuple(i["linkId"] for i in self.items if i.get("baseline"))


@cache
def load_register(version: int = CURRENT_REGISTER) -> Register:
    """Return a risk register that ships with the package (the current one by default)."""
    name = REGISTER_FILES[version]
    data = json.loads(resources.files("safety.risks").joinpath(name).read_text("utf-8"))
    return Register(
        title=data["title"],
        guidance=tuple(data["guidance"]),
        default_kinds=tuple(data["default_kinds"]),
        kinds=data["kinds"],
        phases=tuple(data["phases"]),
        high_risk_regions=tuple(data["high_risk_regions"]),
        items=tuple(data["items"]),
        version=data.get("version", 1),
        sources=data.get("sources", {}),
        count_checks=tuple(data.get("count_checks", ())),
        followup=data.get("followup", {}),
        baselines=tuple(data.get("baselines", ())),
    )


def build_definition(
    register: Register,
    kinds: Iterable[str],
    statements: Sequence[tuple[str, Sequence[str]]] = (),
    *,
    title: str | None = None,
) -> dict[str, Any]:
    """Build a template definition: the baseline items plus the controls of every given kind.

    Baseline items are in every template, whatever a text names: an import adds controls and
    never removes the infection-control baseline. `statements` are (risk statement, its kinds)
    pairs; each item keeps the statements whose kinds it controls, so a reviewer sees why the
    item is on the checklist. Sources are copied in full, so the stored definition keeps them.
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
            provenance = [text for text, ks in statements if risks & set(ks)]
            items.append(item_json(register, spec, provenance))
        phases.append({**phase, "items": items})
    definition = {
        "title": title or register.title,
        "kinds": [k for k in register.kinds if k in wanted],
        "high_risk_regions": list(register.high_risk_regions),
        "phases": phases,
    }
    if register.version > 1:
        definition["register_version"] = register.version
        present = {i["linkId"] for p in phases for i in p["items"]}
        definition["count_checks"] = [
            c for c in register.count_checks if {c["counted"], c["against"]} <= present
        ]
    return definition


def carried_forward(
    definition: Mapping[str, Any], register: Register, *, built_from: Register, at: str
) -> dict[str, Any]:
    """Return a template definition brought up to a register that only adds to the one it was
    built from (`built_from`, version 2 on): its items keep their order and the clinic's own
    edits; each item the register gives a stop gets it, and each yes/no item the register
    gives a flag of its own (a broken needle) gets that, with a change in its history dated
    `at` (the item may have been reworded: the editor shows why it now stops), and each count
    check whose counts the template asks is added. An item still in the words `built_from`
    gave it takes the register's new words, written in its history as a rewording; one the
    clinic ever reworded keeps the clinic's words, even words set back to the register's.
    Rebuilding from the register instead would drop a clinic's edits.
    """
    words = {spec["linkId"]: spec["text"] for spec in register.items}
    old_words = {spec["linkId"]: spec["text"] for spec in built_from.items}
    stops = {spec["linkId"]: spec["stop"] for spec in register.items if "stop" in spec}
    flags = {
        spec["linkId"]: {field: spec[field] for field in FLAG_FIELDS if field in spec}
        for spec in register.items
        if spec.get("type") == "boolean" and "flag" in spec
    }
    updated = copy.deepcopy(dict(definition))
    asked = set()
    for phase in updated.get("phases", ()):
        for item in phase.get("items", ()):
            asked.add(item["linkId"])
            new_words = words.get(item["linkId"], item["text"])
            # The register's own rewordings carry its version; the clinic's do not.
            theirs = any(
                change["action"] == "reword" and "register_version" not in change
                for change in item.get("changes", ())
            )
            if (
                not theirs
                and item["text"] == old_words.get(item["linkId"])
                and new_words != item["text"]
            ):
                item.setdefault("changes", []).append(
                    {"action": "reword", "by": "NeedleSafe", "by_id": None, "at": at}
                    | {
                        "register_version": register.version,
                        "previous": item["text"],
                        "text": new_words,
                    }
                )
                item["text"] = new_words
            if item["linkId"] in stops and "stop" not in item:
                item["stop"] = copy.deepcopy(stops[item["linkId"]])
                item.setdefault("changes", []).append(
                    {"action": "stop", "by": "NeedleSafe", "by_id": None, "at": at}
                    | {"register_version": register.version}
                )
            said = flags.get(item["linkId"], {})
            if said and item.get("type") == "boolean" and not item.keys() & set(FLAG_FIELDS):
                item.update(said)
                item.setdefault("changes", []).append(
                    {"action": "flag", "by": "NeedleSafe", "by_id": None, "at": at}
                    | {"register_version": register.version, "severity": said["flag"]}
                )
    checks = list(updated.get("count_checks", ()))
    for check in register.count_checks:
        if check not in checks and {check["counted"], check["against"]} <= asked:
            checks.append(copy.deepcopy(check))
    updated["count_checks"] = checks
    updated["register_version"] = register.version
    return updated


def item_json(
    register: Register, spec: Mapping[str, Any], provenance: Sequence[str] = ()
) -> dict[str, Any]:
    """Return a register item as a definition stores it: its sources copied in full."""
    item = {k: v for k, v in spec.items() if k not in {"phase", "baseline", "sources"}}
    if "sources" in spec:
        item["sources"] = [_source_json(register, s) for s in spec["sources"]]
    item["provenance"] = list(provenance)
    return item


def _source_json(register: Register, source_id: str) -> dict[str, Any]:
    source = register.source(source_id)
    out: dict[str, Any] = {"id": source_id, "citation": source.citation}
    if source.url:
        out["url"] = source.url
    if source.design_choice:
        out["design_choice"] = True
    return out


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
                flag=spec.get("flag"),
                risks=tuple(spec.get("risks", ())),
                provenance=tuple(spec.get("provenance", ())),
                why=spec.get("why", ""),
                sources=tuple(
                    Source(s["citation"], s.get("url"), bool(s.get("design_choice")))
                    for s in spec.get("sources", ())
                ),
                stop=Stop(spec["stop"]["answer"], spec["stop"]["message"])
                if "stop" in spec
                else None,
                exclusive=spec.get("exclusive"),
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
        count_checks=tuple(
            CountCheck(
                c["counted"], c["against"], tuple(c["words"]), c.get("relation") == "at_most"
            )
            for c in definition.get("count_checks", ())
        ),
        register_version=definition.get("register_version", 1),
    )
