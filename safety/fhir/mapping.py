"""FHIR R4 mapping of checklist templates (Questionnaire). Pure: plain dicts in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

RISK_SYSTEM = "urn:needlesafe:risk"
QUESTIONNAIRE_URL = "urn:needlesafe:questionnaire:dry-needling-safety"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"

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
                "item": [_item(spec, kind_titles) for spec in phase["items"]],
            }
            for phase in definition["phases"]
        ],
    }
    if resource_id:
        resource["id"] = resource_id
    if published_dt:
        resource["date"] = published_dt.isoformat(timespec="seconds")
    return resource


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
    if extensions:
        item["extension"] = extensions
    if spec.get("enableWhen"):
        item["enableWhen"] = [_condition(c) for c in spec["enableWhen"]]
        if len(spec["enableWhen"]) > 1:
            item["enableBehavior"] = spec.get("enableBehavior", "all")
    return item


def _condition(condition: dict[str, Any]) -> dict[str, Any]:
    answer = condition["answer"]
    result: dict[str, Any] = {"question": condition["question"], "operator": condition["operator"]}
    if isinstance(answer, bool):
        result["answerBoolean"] = answer
    else:
        result["answerCoding"] = {"code": answer}
    return result
