"""FHIR R4 mapping: templates (Questionnaire), signed records and follow-up answers
(QuestionnaireResponse), Bundles, OperationOutcomes, the CapabilityStatement and the search
parameters of the read API. Pure: plain dicts and values in and out, no Flask or SQLAlchemy.

Choices made where R4 gives no exact home:

- A follow-up answer is its own QuestionnaireResponse. R4 limits `basedOn` to CarePlan and
  ServiceRequest and `partOf` to Observation and Procedure, so neither may point at the session's
  QuestionnaireResponse; the extension `urn:needlesafe:session` (valueReference) does instead.
- A deviation note rides on its item as the extension `urn:needlesafe:note` (valueString): a
  nested item would need a linkId the Questionnaire does not define.
- The content hash is the extension `urn:needlesafe:content-hash`; the record id is the
  `identifier` (system `urn:needlesafe:session`). The signature uses the core extension
  `questionnaireresponse-signature`; each addendum is the complex extension
  `urn:needlesafe:addendum`, in order, and makes the status `amended`.
- Choice answers are Codings without a system, exactly as the Questionnaire's answerOptions,
  so a validator matches them.
- The needle packs (DESIGN §9) are a repeating group `timeout.packs` after the expiry item,
  defined by the Questionnaire of every version and answered once per pack; a record from
  before packs has its lot and expiry as its one pack.

One file of about 620 lines: the Questionnaire and the QuestionnaireResponse share
their item shapes, and a reader checking that a response matches its Questionnaire wants both
in view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from safety.incidents.rules import Kind
from safety.packs.rules import EXPIRY_ITEM, LOT_ITEM, PACKS_KEY, packs_of

RISK_SYSTEM = "urn:needlesafe:risk"
QUESTIONNAIRE_URL = "urn:needlesafe:questionnaire:dry-needling-safety"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
#: Why an item is on the checklist, and each source it rests on (DESIGN §3.1.1).
WHY_EXTENSION = "urn:needlesafe:why"
SOURCE_EXTENSION = "urn:needlesafe:source"

_TYPES = {
    "boolean": "boolean",
    "integer": "integer",
    "date": "date",
    "string": "string",
    "text": "text",
    "choice": "choice",
    "multichoice": "choice",
}


def questionnaire(
    definition: dict[str, Any],
    *,
    version: int,
    kind_titles: dict[str, str],
    published_dt: datetime | None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """Return a template as a FHIR R4 Questionnaire; each item codes its risk kinds."""
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "url": QUESTIONNAIRE_URL,
        "version": str(version),
        "name": "DryNeedlingSafetyChecklist",
        "title": definition["title"],
        "status": "active" if published_dt else "draft",
        "subjectType": ["Patient"],
        "item": [
            {
                "linkId": phase["id"],
                "text": phase["title"],
                "type": "group",
                "item": _with_packs([_item(spec, kind_titles) for spec in phase["items"]]),
            }
            for phase in definition["phases"]
        ],
    }
    if resource_id:
        resource["id"] = resource_id
    if published_dt:
        resource["date"] = published_dt.isoformat(timespec="seconds")
    return resource


#: Every pack a session opened (DESIGN §9): a repeating group after the first pack's lot and
#: expiry items, one repetition per pack, so a recall's GTIN and lot are in the record.
PACK_PARTS = (
    ("gtin", "GTIN (UDI device identifier, GS1 AI 01)", "string", "valueString"),
    ("lot", "Lot number as entered (GS1 AI 10)", "string", "valueString"),
    ("expiry", "Expiry date (GS1 AI 17)", "date", "valueDate"),
    ("serial", "Serial number (GS1 AI 21)", "string", "valueString"),
)
PACKS_GROUP: dict[str, Any] = {
    "linkId": PACKS_KEY,
    "text": "Needle packs opened",
    "type": "group",
    "repeats": True,
    "item": [
        {"linkId": f"{PACKS_KEY}.{part}", "text": text, "type": kind}
        for part, text, kind, _ in PACK_PARTS
    ],
}


def _with_packs(
    items: list[dict[str, Any]], *groups: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Put the packs group right after the first pack's expiry item, if the phase has it.

    With no groups given, the Questionnaire's definition of the group, coded with the lot
    item's risk kinds (a pack is what a recall of non-sterile needles names).
    """
    at = next((n for n, item in enumerate(items) if item["linkId"] == EXPIRY_ITEM), None)
    if at is None:
        return items
    if not groups:
        lot = next((i for i in items if i["linkId"] == LOT_ITEM), None)
        group = dict(PACKS_GROUP)
        if lot is not None and lot.get("code"):
            group["code"] = lot["code"]
        groups = (group,)
    return [*items[: at + 1], *groups, *items[at + 1 :]]


def _pack_item(pack: Mapping[str, str]) -> dict[str, Any]:
    return {
        "linkId": PACKS_KEY,
        "text": PACKS_GROUP["text"],
        "item": [
            {"linkId": f"{PACKS_KEY}.{part}", "text": text, "answer": [{value: pack[part]}]}
            for part, text, _, value in PACK_PARTS
            if pack.get(part)
        ],
    }


def _item(spec: dict[str, Any], kind_titles: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": spec["linkId"],
        "text": spec["text"],
        "type": _TYPES[spec["type"]],
        "code": [
            {"system": RISK_SYSTEM, "code": kind, "display": kind_titles.get(kind, kind)}
            for kind in spec.get("risks", ())
        ],
    }
    if not item["code"]:
        del item["code"]
    # An item shown only when the needle counts differ cannot be expressed as enableWhen;
    # FHIR consumers see it as optional, the server enforces it.
    if spec.get("required") and not spec.get("enableWhenCountsDiffer"):
        item["required"] = True
    if spec["type"] == "boolean":
        item["required"] = True
    if spec["type"] == "multichoice":
        item["repeats"] = True
    if spec.get("maxLength"):
        item["maxLength"] = spec["maxLength"]
    if spec.get("options"):
        item["answerOption"] = [
            {"valueCoding": {"code": o["code"], "display": o["display"]}} for o in spec["options"]
        ]
    extensions = []
    if spec.get("min") is not None:
        extensions.append({"url": MIN_VALUE, "valueInteger": spec["min"]})
    if spec.get("max") is not None:
        extensions.append({"url": MAX_VALUE, "valueInteger": spec["max"]})
    if spec.get("why"):
        extensions.append({"url": WHY_EXTENSION, "valueString": spec["why"]})
    for source in spec.get("sources", ()):
        extensions.append({"url": SOURCE_EXTENSION, "valueString": _cited(source)})
    if extensions:
        item["extension"] = extensions
    if spec.get("enableWhen"):
        item["enableWhen"] = [_condition(c) for c in spec["enableWhen"]]
        if len(spec["enableWhen"]) > 1:
            item["enableBehavior"] = spec.get("enableBehavior", "all")
    return item


def _cited(source: dict[str, Any]) -> str:
    return f"{source['citation']} {source['url']}" if source.get("url") else source["citation"]


def _condition(condition: dict[str, Any]) -> dict[str, Any]:
    answer = condition["answer"]
    result: dict[str, Any] = {"question": condition["question"], "operator": condition["operator"]}
    if isinstance(answer, bool):
        result["answerBoolean"] = answer
    else:
        result["answerCoding"] = {"code": answer}
    return result


# --- QuestionnaireResponse ------------------------------------------------------------------

SESSION_SYSTEM = "urn:needlesafe:session"
FOLLOWUP_SYSTEM = "urn:needlesafe:followup"
NOTE_EXTENSION = "urn:needlesafe:note"
CONTENT_HASH_EXTENSION = "urn:needlesafe:content-hash"
SESSION_EXTENSION = "urn:needlesafe:session"
ADDENDUM_EXTENSION = "urn:needlesafe:addendum"
ESCALATION_EXTENSION = "urn:needlesafe:escalation"
SIGNATURE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-signature"
#: ASTM E1762-95 signature type "Verification Signature".
VERIFICATION_SIGNATURE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.5",
    "display": "Verification Signature",
}
#: Prefix of the resource id of a follow-up answer, so it never collides with a session id.
FOLLOWUP_ID_PREFIX = "followup-"


def instant(value: datetime) -> str:
    """Render an aware time as a FHIR instant in UTC."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def questionnaire_canonical(version: int | str) -> str:
    """Return the canonical reference of a template version: url|version."""
    return f"{QUESTIONNAIRE_URL}|{version}"


def questionnaire_response(
    record: Mapping[str, Any],
    definition: Mapping[str, Any],
    *,
    addenda: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Return a signed record as a QuestionnaireResponse: `completed`, `amended` with addenda.

    `record` has id, patient_id, practitioner_id, signed_by_id, signer_name, signature_meaning,
    signed_dt, template_version (the version number), answers, notes and content_hash;
    each addendum has id, author_id, signer_name, reason, body, signed_dt, meaning and
    content_hash, oldest first.
    """
    answers = record.get("answers") or {}
    notes = record.get("notes") or {}
    groups = []
    for phase in definition["phases"]:
        children = [
            _answered_item(spec, answers[spec["linkId"]], notes.get(spec["linkId"]))
            for spec in phase["items"]
            if answers.get(spec["linkId"]) not in (None, [])
        ]
        packs = [_pack_item(p) for p in packs_of(answers)]
        children = _with_packs(children, *packs) if packs else children
        if children:
            groups.append({"linkId": phase["id"], "text": phase["title"], "item": children})
    signed_dt: datetime = record["signed_dt"]
    last_change = max([signed_dt, *(a["signed_dt"] for a in addenda)])
    extensions: list[dict[str, Any]] = [
        {"url": CONTENT_HASH_EXTENSION, "valueString": record["content_hash"]},
        {
            "url": SIGNATURE_EXTENSION,
            "valueSignature": {
                "type": [VERIFICATION_SIGNATURE],
                "when": instant(signed_dt),
                "who": _practitioner(record["signed_by_id"], record.get("signer_name")),
            },
        },
    ]
    extensions.extend(_addendum_extension(a) for a in addenda)
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(record["id"]),
        "meta": {"versionId": str(1 + len(addenda)), "lastUpdated": instant(last_change)},
        "extension": extensions,
        "identifier": {"system": SESSION_SYSTEM, "value": str(record["id"])},
        "questionnaire": questionnaire_canonical(record["template_version"]),
        "status": "amended" if addenda else "completed",
        "subject": {"reference": f"Patient/{record['patient_id']}"},
        "authored": instant(signed_dt),
        "author": _practitioner(record["practitioner_id"], None),
    }
    if groups:
        resource["item"] = groups
    return resource


def _practitioner(user_id: int, name: str | None) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"Practitioner/{user_id}"}
    if name:
        reference["display"] = name
    return reference


def _answered_item(spec: Mapping[str, Any], value: Any, note: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": spec["linkId"], "text": spec["text"]}
    if note:
        item["extension"] = [{"url": NOTE_EXTENSION, "valueString": note}]
    values = value if isinstance(value, list) else [value]
    item["answer"] = [_answer(spec, v) for v in values]
    return item


def _answer(spec: Mapping[str, Any], value: Any) -> dict[str, Any]:
    kind = spec["type"]
    if kind == "boolean":
        return {"valueBoolean": bool(value)}
    if kind == "integer":
        return {"valueInteger": int(value)}
    if kind == "date":
        return {"valueDate": str(value)}
    if kind in {"choice", "multichoice"}:
        coding = {"code": str(value)}
        display = next((o["display"] for o in spec.get("options", ()) if o["code"] == value), None)
        if display:
            coding["display"] = display
        return {"valueCoding": coding}
    return {"valueString": str(value)}


def _addendum_extension(addendum: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "url": ADDENDUM_EXTENSION,
        "extension": [
            {"url": "id", "valueString": str(addendum["id"])},
            {"url": "reason", "valueString": addendum["reason"]},
            {"url": "body", "valueString": addendum["body"]},
            {
                "url": "author",
                "valueReference": _practitioner(addendum["author_id"], addendum["signer_name"]),
            },
            {"url": "signed", "valueDateTime": instant(addendum["signed_dt"])},
            {"url": "meaning", "valueString": addendum["meaning"]},
            {"url": "contentHash", "valueString": addendum["content_hash"]},
        ],
    }


def followup_resource_id(response_id: int) -> str:
    """Return the resource id of a follow-up answer (never a bare number: that is a session)."""
    return f"{FOLLOWUP_ID_PREFIX}{response_id}"


def followup_response(
    response: Mapping[str, Any],
    *,
    patient_id: int,
    choices: Mapping[str, Iterable[str]] = {},  # noqa: B006  (read-only default)
    labels: Mapping[str, str] = {},  # noqa: B006
    unanswered: Iterable[str] = (),
) -> dict[str, Any]:
    """Return a patient's follow-up answers as their own QuestionnaireResponse.

    `response` has id, session_id, kind (24h, 72h, 7d), answers, escalation and created_dt. The
    session is referenced through the `urn:needlesafe:session` extension (see the module notes).
    An urgent answer sent with questions `unanswered` (the form sends the patient to call at
    once) is "stopped", R4's "partially filled out ... abandoned": "completed" told a receiving
    system that the questions it does not carry were answered with nothing to report.
    """
    items = []
    for key, value in (response.get("answers") or {}).items():
        values = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if not values:
            continue
        item: dict[str, Any] = {"linkId": key}
        if labels.get(key):
            item["text"] = labels[key]
        item["answer"] = [_followup_answer(v, key in choices) for v in values]
        items.append(item)
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": followup_resource_id(response["id"]),
        "meta": {"lastUpdated": instant(response["created_dt"])},
        "extension": [
            {
                "url": SESSION_EXTENSION,
                "valueReference": {"reference": f"QuestionnaireResponse/{response['session_id']}"},
            },
            {"url": ESCALATION_EXTENSION, "valueCode": response["escalation"]},
        ],
        "identifier": {"system": FOLLOWUP_SYSTEM, "value": str(response["id"])},
        "status": "stopped" if any(unanswered) else "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": instant(response["created_dt"]),
        "author": {"reference": f"Patient/{patient_id}"},
        "source": {"reference": f"Patient/{patient_id}"},
    }
    if response.get("kind"):
        resource["extension"].append(
            {"url": f"{FOLLOWUP_SYSTEM}:kind", "valueCode": response["kind"]}
        )
    if items:
        resource["item"] = items
    return resource


def _followup_answer(value: Any, is_choice: bool) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    if is_choice:
        return {"valueCoding": {"code": str(value)}}
    return {"valueString": str(value)}


# --- Bundles, OperationOutcome, CapabilityStatement -----------------------------------------


def bundle_entry(full_url: str, resource: Mapping[str, Any], *, search: bool = False) -> dict:
    """Return one Bundle entry; searchset entries say they matched."""
    entry: dict[str, Any] = {"fullUrl": full_url, "resource": resource}
    if search:
        entry["search"] = {"mode": "match"}
    return entry


def searchset_bundle(
    entries: Sequence[Mapping[str, Any]],
    *,
    total: int,
    self_url: str,
    next_url: str | None,
    timestamp: datetime,
) -> dict[str, Any]:
    """Return a searchset Bundle with its total and self/next links."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(timestamp),
        "total": total,
        "link": links,
    }
    if entries:
        bundle["entry"] = list(entries)
    return bundle


#: The extension on an exported Bundle's meta that carries the latest signed audit checkpoint.
CHECKPOINT_EXTENSION = "urn:needlesafe:audit-checkpoint"


def collection_bundle(
    entries: Sequence[Mapping[str, Any]], *, timestamp: datetime, checkpoint: str | None = None
) -> dict:
    """Return a collection Bundle (an export); entries are left out when there are none.

    `checkpoint` (the latest signed audit checkpoint, canonical JSON) goes in an extension on
    the Bundle's meta: the evidence the export can be held to with `flask audit verify
    --checkpoint`.
    """
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": instant(timestamp),
    }
    if checkpoint is not None:
        bundle["meta"] = {"extension": [{"url": CHECKPOINT_EXTENSION, "valueString": checkpoint}]}
    if entries:
        bundle["entry"] = list(entries)
    return bundle


def operation_outcome(code: str, diagnostics: str, *, severity: str = "error") -> dict:
    """Return an OperationOutcome with one issue (code from the FHIR issue-type value set)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def capability_statement(
    *, base_url: str, date_published: datetime, software_version: str, max_count: int
) -> dict[str, Any]:
    """Return what the read API serves: Questionnaire and QuestionnaireResponse, read-only."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(date_published),
        "publisher": "NeedleSafe",
        "kind": "instance",
        "software": {"name": "NeedleSafe", "version": software_version},
        "implementation": {
            "description": "NeedleSafe infection-control checklists: read-only FHIR API",
            "url": base_url,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Every request but this one needs a bearer token.",
                "security": {
                    "cors": False,
                    "description": (
                        "Send Authorization: Bearer <token>. Tokens are issued to compliance "
                        "officers with `flask tokens create --user EMAIL` and revoked with "
                        "`flask tokens revoke`."
                    ),
                },
                "resource": [
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}],
                    },
                    {
                        "type": "AdverseEvent",
                        "interaction": [{"code": "read"}],
                        "documentation": "Incidents: sharps injuries to staff (the injured "
                        "person as a privacy case), adverse events and near misses.",
                    },
                    {
                        "type": "QuestionnaireResponse",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {
                                "name": "authored",
                                "type": "date",
                                "documentation": "Signed time; prefixes eq, ge, gt, le, lt; "
                                "repeat to give a range. Dates without a zone are UTC.",
                            },
                            {
                                "name": "subject",
                                "type": "reference",
                                "documentation": "Patient/<id>; comma-separate for any of.",
                            },
                            {
                                "name": "_count",
                                "type": "number",
                                "documentation": f"Page size, at most {max_count}.",
                            },
                        ],
                    },
                ],
            }
        ],
    }


# --- incidents as AdverseEvent -------------------------------------------------------------------

INCIDENT_SYSTEM = "urn:needlesafe:incident"
INCIDENT_EVENT_SYSTEM = "urn:needlesafe:incident-event"
ADVERSE_EVENT_CATEGORY = "http://terminology.hl7.org/CodeSystem/adverse-event-category"
ADVERSE_EVENT_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
ADVERSE_EVENT_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
#: Incident grade -> the FHIR severity code and whether it is serious.
_GRADES = {"mild": ("mild", False), "significant": ("moderate", False), "serious": ("severe", True)}
#: What kind of event it is, in the FHIR adverse-event-category codes.
_CATEGORIES = {
    "retained_or_broken_needle": ("product-problem", "Product Problem"),
    "damaged_or_unsterile_pack": ("product-quality", "Product Quality"),
    "wrong_patient_or_site": ("wrong-body-site", "Wrong Body Site"),
}
#: The injured member of staff is never named outside the application (OSHA privacy case).
PRIVACY_CASE_DISPLAY = "Privacy case"


def adverse_event(incident: Mapping[str, Any]) -> dict[str, Any]:
    """Return an incident as an AdverseEvent: `actual`, or `potential` for a near miss.

    `incident` has id, kind, event_type, event_label, grade, occurred_dt, signed_dt,
    work_area, description, patient_id (None without a session), session_id, device (text or
    None), content_hash and addenda (a count). A sharps injury's subject is the injured member
    of staff as a privacy case, never their name.
    """
    kind = incident["kind"]
    event_code = Kind.SHARPS_INJURY.value if kind == Kind.SHARPS_INJURY else incident["event_type"]
    category = _CATEGORIES.get(
        incident.get("event_type") or "", ("medical-mishap", "Medical Mishap")
    )
    if incident.get("patient_id") is not None and kind != Kind.SHARPS_INJURY:
        subject: dict[str, Any] = {"reference": f"Patient/{incident['patient_id']}"}
    elif kind == Kind.SHARPS_INJURY:
        subject = {"display": PRIVACY_CASE_DISPLAY}
    else:
        subject = {"display": "Not linked to a session"}
    resource: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "id": str(incident["id"]),
        "meta": {"versionId": str(1 + incident.get("addenda", 0))},
        "extension": [{"url": CONTENT_HASH_EXTENSION, "valueString": incident["content_hash"]}],
        "identifier": {"system": INCIDENT_SYSTEM, "value": str(incident["id"])},
        "actuality": "potential" if kind == Kind.NEAR_MISS else "actual",
        "category": [
            {
                "coding": [
                    {"system": ADVERSE_EVENT_CATEGORY, "code": category[0], "display": category[1]}
                ]
            }
        ],
        "event": {
            "coding": [{"system": INCIDENT_EVENT_SYSTEM, "code": event_code}],
            "text": incident["event_label"],
        },
        "subject": subject,
        "date": instant(incident["occurred_dt"]),
        "recordedDate": instant(incident["signed_dt"]),
        "location": {"display": incident["work_area"]},
    }
    if incident.get("grade") in _GRADES:
        severity, serious = _GRADES[incident["grade"]]
        resource["severity"] = {"coding": [{"system": ADVERSE_EVENT_SEVERITY, "code": severity}]}
        resource["seriousness"] = {
            "coding": [
                {
                    "system": ADVERSE_EVENT_SERIOUSNESS,
                    "code": "serious" if serious else "non-serious",
                }
            ]
        }
    if incident.get("session_id") is not None:
        resource["extension"].append(
            {
                "url": SESSION_EXTENSION,
                "valueIdentifier": {"system": SESSION_SYSTEM, "value": str(incident["session_id"])},
            }
        )
    if incident.get("device"):
        resource["suspectEntity"] = [{"instance": {"display": incident["device"]}}]
    return resource
