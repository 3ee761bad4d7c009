"""Pure rules of the template editor: what an administrator may change in a draft, and how.

A draft's definition is edited as JSON and each rule returns a new definition, leaving the
one it was given untouched, so a refused edit changes nothing (the service stores only a
definition that passed `check`). What a practitioner answers and signs is an item's linkId
and its answer codes: rewording keeps both, a new item gets a linkId no version ever used, so
exports and verify read the same question across versions. The baseline of infection control
(what the register marks baseline, and what signing reads: the needle counts, the consent that
stops a session) cannot be removed, nor can a register's check whose answer raises a flag
(a large bruise, a faint: the flag is how a person hears of it); each item keeps the list of
its changes with who made them and when, beside the sources it was built from.

No Flask or SQLAlchemy here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from safety.checklists.rules import Severity
from safety.languages import N_, Said
from safety.risks.rules import Register, item_json

#: An item's words: long enough to say something, short enough to read at the couch.
TEXT_MIN, TEXT_MAX = 3, 300
#: Why an administrator added their own item (it becomes the item's source).
REASON_MIN, REASON_MAX = 3, 300
#: The linkIds the editor gives new items: "<phase>.own_v<draft version>_<n>".
OWN_PREFIX = "own_v"
#: The most items a step holds: a longer list is skimmed, not read, at the couch.
MAX_PHASE_ITEMS = 30
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")

#: Why an item cannot be removed, by the reason's code.
PROTECTED_REASONS = {
    "baseline": N_("It is a baseline check: every checklist keeps it."),
    "counts": N_("Signing compares the needle counts: this count cannot be removed."),
    "stop": N_("Its answer stops the session (consent): it cannot be removed."),
    "depends": N_("Another item depends on its answer: remove that item first."),
    "flags": N_(
        "Its answer raises a flag when something goes wrong: it is how the clinic hears of "
        "that event, so it cannot be removed."
    ),
}


class EditRefused(ValueError):
    """An edit that would leave the draft unsafe or malformed; `field` names the input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Change:
    """Who changed an item and when, kept on the item as its provenance."""

    action: str
    by: str
    by_id: int | None
    at: str

    def json(self, **details: Any) -> dict[str, Any]:
        return {"action": self.action, "by": self.by, "by_id": self.by_id, "at": self.at, **details}


@dataclass(frozen=True)
class Comparison:
    """What a draft changes against the version in use, item by item."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    #: (linkId, text before, text now)
    reworded: tuple[tuple[str, str, str], ...] = ()
    moved: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.reworded or self.moved)


# --- reading a definition ------------------------------------------------------------------


def items(definition: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """Yield (phase id, item) for every item, in checklist order."""
    for phase in definition["phases"]:
        for item in phase["items"]:
            yield phase["id"], item


def link_ids(definition: Mapping[str, Any]) -> list[str]:
    return [item["linkId"] for _, item in items(definition)]


def _locate(definition: Mapping[str, Any], link_id: str) -> tuple[dict[str, Any], int]:
    for phase in definition["phases"]:
        for index, item in enumerate(phase["items"]):
            if item["linkId"] == link_id:
                return phase, index
    raise EditRefused(N_("This item is not in the draft. Reload the page and try again."))


def protected_items(definition: Mapping[str, Any], registers: Iterable[Register]) -> dict[str, str]:
    """Return linkId -> reason code for every item of a draft that cannot be removed."""
    baseline = {link_id for register in registers for link_id in register.baseline_link_ids}
    counted = _counted(definition)
    depended = _depended(definition)
    protected = {}
    for _, item in items(definition):
        link_id = item["linkId"]
        if link_id in baseline:
            protected[link_id] = "baseline"
        elif link_id in counted or item.get("mustEqual"):
            protected[link_id] = "counts"
        elif "stop" in item:
            protected[link_id] = "stop"
        elif link_id in depended:
            protected[link_id] = "depends"
        elif _raises_flag(item) and OWN_PREFIX not in link_id:
            # A register's observation (bruising, reactions): the risk section named the risk,
            # and the flag is how a large bruise or a faint reaches a person. An administrator's
            # own check stays theirs to remove.
            protected[link_id] = "flags"
    return protected


def _depended(definition: Mapping[str, Any]) -> set[str]:
    """The items another item reads: the answers that bring up a precaution (enableWhen) and
    the counts a count must equal."""
    depended = set()
    for _, item in items(definition):
        depended.update(c["question"] for c in item.get("enableWhen", ()))
        if item.get("mustEqual"):
            depended.add(item["mustEqual"])
    return depended


def _counted(definition: Mapping[str, Any]) -> set[str]:
    """The items signing compares: each count check's two counts."""
    return {
        link_id
        for check in definition.get("count_checks", ())
        for link_id in (check["counted"], check["against"])
    }


def _raises_flag(item: Mapping[str, Any]) -> bool:
    """Whether an answer to the item can raise a flag: a flagged option, or a yes/no check
    answered against its expected answer."""
    if item.get("flagKind") or "expected" in item:
        return True
    return any(o.get("flag") for o in item.get("options", ()))


def catalogue(definition: Mapping[str, Any], register: Register) -> list[dict[str, Any]]:
    """Return the register's items a draft does not have yet, in the register's order."""
    present = set(link_ids(definition))
    return [spec for spec in register.items if spec["linkId"] not in present]


def missing_conditions(spec: Mapping[str, Any], present: Iterable[str]) -> list[str]:
    """Return the questions an item is asked after that a draft does not have."""
    have = set(present)
    return [c["question"] for c in spec.get("enableWhen", ()) if c["question"] not in have]


def clean_text(text: str, *, field: str = "text", low: int = TEXT_MIN, high: int = TEXT_MAX):
    """Return an item's words with their spacing tidied, or refuse them."""
    if _CONTROL.search(text.replace("\n", " ").replace("\r", " ").replace("\t", " ")):
        raise EditRefused(N_("The text contains characters that cannot be saved."), field)
    cleaned = _SPACES.sub(" ", text).strip()
    if len(cleaned) < low:
        raise EditRefused(Said(N_("Write at least %(min)s characters."), min=low), field)
    if len(cleaned) > high:
        raise EditRefused(Said(N_("Use at most %(max)s characters."), max=high), field)
    return cleaned


def check(definition: Mapping[str, Any]) -> None:
    """Refuse a definition a checklist could not be run from: an empty phase, a linkId twice,
    an item asked after a question it does not have or that comes after it."""
    seen: set[str] = set()
    for phase in definition["phases"]:
        if not phase["items"]:
            raise EditRefused(
                Said(N_("The %(phase)s step would have no item left."), phase=phase["title"])
            )
        if len(phase["items"]) > MAX_PHASE_ITEMS:
            raise EditRefused(
                Said(
                    N_("A step holds at most %(max)s items: remove one before adding another."),
                    max=MAX_PHASE_ITEMS,
                )
            )
        for item in phase["items"]:
            if item["linkId"] in seen:
                raise EditRefused(N_("Two items would have the same linkId."))
            if not item.get("text", "").strip():
                raise EditRefused(N_("Every item needs its words."))
            for question in missing_conditions(item, seen):
                raise EditRefused(
                    Said(
                        N_("“%(item)s” is asked after %(question)s, which must come before it."),
                        item=item["text"],
                        question=question,
                    )
                )
            seen.add(item["linkId"])


# --- edits ---------------------------------------------------------------------------------


def add_from_register(
    definition: Mapping[str, Any], register: Register, link_id: str, change: Change
) -> dict[str, Any]:
    """Add a register item to its phase, where the register puts it among the others."""
    spec = next((s for s in catalogue(definition, register) if s["linkId"] == link_id), None)
    if spec is None:
        raise EditRefused(N_("Choose an item from the list."), "item")
    edited = copy.deepcopy(dict(definition))
    missing = missing_conditions(spec, link_ids(edited))
    if missing:
        raise EditRefused(
            Said(N_("Add %(question)s first: this item is asked after it."), question=missing[0]),
            "item",
        )
    phase = next((p for p in edited["phases"] if p["id"] == spec["phase"]), None)
    if phase is None:
        raise EditRefused(N_("This template has no step for that item."), "item")
    order = {s["linkId"]: n for n, s in enumerate(register.items)}
    mine = order[link_id]
    at = 0
    for index, item in enumerate(phase["items"]):
        if order.get(item["linkId"], -1) < mine:
            at = index + 1
    item = item_json(register, spec)
    item["changes"] = [change.json()]
    phase["items"].insert(at, item)
    if register.version > 1:
        present = set(link_ids(edited))
        edited["count_checks"] = [
            c for c in register.count_checks if {c["counted"], c["against"]} <= present
        ]
    return edited


def fresh_link_id(phase_id: str, version: int, taken: Iterable[str]) -> str:
    """Return "<phase>.own_v<version>_<n>", n above any the draft gave already.

    A version number is never given twice (not even a discarded draft's), so two drafts
    edited side by side cannot give one linkId two meanings; `taken` holds the draft's own
    linkIds (and the register's, which never take this form)."""
    prefix = f"{phase_id}.{OWN_PREFIX}{version}_"
    numbers = [0]
    for link_id in taken:
        if link_id.startswith(prefix) and link_id[len(prefix) :].isdigit():
            numbers.append(int(link_id[len(prefix) :]))
    return f"{prefix}{max(numbers) + 1}"


def add_own_item(
    definition: Mapping[str, Any],
    *,
    phase_id: str,
    version: int,
    text: str,
    reason: str,
    taken: Iterable[str],
    change: Change,
) -> tuple[dict[str, Any], str]:
    """Add a yes/no check an administrator wrote: "Yes" is the safe answer, "No" needs a
    note and raises a flag, like the register's own checks. Returns (definition, linkId)."""
    edited = copy.deepcopy(dict(definition))
    phase = next((p for p in edited["phases"] if p["id"] == phase_id), None)
    if phase is None:
        raise EditRefused(N_("Choose a step for the item."), "phase")
    words = clean_text(text)
    why = clean_text(reason, field="reason", low=REASON_MIN, high=REASON_MAX)
    link_id = fresh_link_id(phase_id, version, [*taken, *link_ids(edited)])
    phase["items"].append(
        {
            "linkId": link_id,
            "type": "boolean",
            "required": True,
            "expected": True,
            "text": words,
            "why": why,
            "sources": [
                {
                    "id": "clinic-own",
                    "citation": f"Added by {change.by}, {change.at[:10]}: {why}",
                    "design_choice": True,
                }
            ],
            "risks": [],
            "provenance": [why],
            "changes": [change.json(reason=why)],
        }
    )
    return edited, link_id


def remove_item(
    definition: Mapping[str, Any], link_id: str, protected: Mapping[str, str]
) -> dict[str, Any]:
    """Remove an item the baseline and the sign-off do not need."""
    if link_id in protected:
        raise EditRefused(PROTECTED_REASONS[protected[link_id]])
    edited = copy.deepcopy(dict(definition))
    phase, index = _locate(edited, link_id)
    del phase["items"][index]
    return edited


def fixed_words(definition: Mapping[str, Any]) -> frozenset[str]:
    """Return the items whose words cannot change: a hard rule reads their answer (a "No" to
    consent stops the session; signing compares the counts; a "No" to "fit to leave" raises a
    critical flag; a "Yes" to blood thinners brings up the bleeding precaution), so new words
    that asked the opposite ("The patient has refused consent", "The patient is not fit to
    leave", "takes no blood thinners") would turn the rule against its meaning. Reviews turned
    "fit to leave" and the blood thinners around in the editor: an unwell patient's Yes then
    raised nothing, and the precaution came up for the patients who did not need it.

    A yes/no question another item reads is fixed; a list's (the regions, the conditions) keeps
    its meaning in its options, whose words do not change here."""
    counted = _counted(definition)
    depended = _depended(definition)
    return frozenset(
        item["linkId"]
        for _, item in items(definition)
        if item["linkId"] in counted
        or item.get("mustEqual")
        or "stop" in item
        or item.get("flag") == Severity.CRITICAL
        or (item["linkId"] in depended and item.get("type") == "boolean")
    )


REWORD_REFUSED = N_(
    "Its answer drives a rule (a stop at an unsafe answer, the needle count, a critical flag, "
    "or a precaution it brings up): its words cannot change, except back to NeedleSafe's. Add "
    "a check of your own beside it instead."
)


def register_words(definition: Mapping[str, Any], register: Register) -> dict[str, str]:
    """Return, for each item whose words cannot change (`fixed_words`) and differ from the
    register's, the register's words: the one rewording such an item may take. A clinic that
    reworded identity or skin before version 5 gave them a stop would otherwise keep its words,
    a double negative among them, for good."""
    shipped = {spec["linkId"]: spec["text"] for spec in register.items}
    fixed = fixed_words(definition)
    return {
        item["linkId"]: shipped[item["linkId"]]
        for _, item in items(definition)
        if item["linkId"] in fixed
        and item["linkId"] in shipped
        and item["text"] != shipped[item["linkId"]]
    }


def reword_item(
    definition: Mapping[str, Any],
    link_id: str,
    text: str,
    change: Change,
    *,
    fixed: frozenset[str] | None = None,
    shipped: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """Give an item new words; its linkId and answer codes stay, the old words are kept.

    An item whose words drive a rule (`fixed`, by default the definition's own `fixed_words`)
    takes only the register's words (`shipped`: the register's version and its words), and
    that rewording is the register's, as `rules.carried_forward` writes one: a later register
    that rewords the item again rewords it here too."""
    words = clean_text(text)
    fixed = fixed_words(definition) if fixed is None else fixed
    from_register = shipped is not None and words == shipped[1]
    if link_id in fixed and not from_register:
        raise EditRefused(REWORD_REFUSED, "text")
    edited = copy.deepcopy(dict(definition))
    phase, index = _locate(edited, link_id)
    item = phase["items"][index]
    if words == item["text"]:
        raise EditRefused(N_("These are the item's words already."), "text")
    register = {"register_version": shipped[0]} if from_register and link_id in fixed else {}
    item.setdefault("changes", []).append(
        change.json(previous=item["text"], text=words, **register)
    )
    item["text"] = words
    return edited


def move_item(definition: Mapping[str, Any], link_id: str, direction: str) -> dict[str, Any]:
    """Move an item one place up or down within its phase."""
    if direction not in ("up", "down"):
        raise EditRefused(N_("Choose up or down."))
    edited = copy.deepcopy(dict(definition))
    phase, index = _locate(edited, link_id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(phase["items"]):
        raise EditRefused(
            N_("This item is first in its step already.")
            if direction == "up"
            else N_("This item is last in its step already.")
        )
    listed = phase["items"]
    listed[index], listed[other] = listed[other], listed[index]
    return edited


# --- what a draft changes --------------------------------------------------------------------


def compare(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> Comparison:
    """Return what `after` adds, removes, rewords and moves against `before`."""
    if before is None:
        return Comparison(added=tuple(link_ids(after)))
    old = {item["linkId"]: (phase, item) for phase, item in items(before)}
    new = {item["linkId"]: (phase, item) for phase, item in items(after)}
    added = tuple(i for i in new if i not in old)
    removed = tuple(i for i in old if i not in new)
    reworded = tuple(
        (i, old[i][1]["text"], new[i][1]["text"])
        for i in new
        if i in old and old[i][1]["text"] != new[i][1]["text"]
    )
    moved: list[str] = []
    for phase in after["phases"]:
        kept = [i["linkId"] for i in phase["items"] if i["linkId"] in old]
        then = [i for i, (p, _) in old.items() if i in set(kept) and p == phase["id"]]
        moved.extend(i for i in kept if i in then and kept.index(i) != then.index(i))
        moved.extend(i for i in kept if old[i][0] != phase["id"])
    return Comparison(added, removed, reworded, tuple(moved))
