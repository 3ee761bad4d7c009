"""Presentation helpers for templates: local times, dates and answers in the reader's words.

One module of about 620 lines: these are the filters and globals every template calls (the
app registers them from here), each a few lines of formatting; split by theme they would be
several small files a template author has to search to find one filter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask_babel import gettext, ngettext, pgettext
from markupsafe import Markup, escape

from safety import i18n, languages
from safety.auth import policy
from safety.auth import rules as auth_rules
from safety.checklists.rules import (
    CANCELLED_AFTER_SIGN_OUT,
    CANCELLED_AFTER_TIME_OUT,
    COUNTS_SAID,
    Wording,
)
from safety.dbtypes import utcnow
from safety.followup import rules as followup_rules
from safety.followup import schedule as followup_schedule
from safety.followup import texts as followup_texts
from safety.incidents.rules import incident_from_flag
from safety.review.rules.flags import SEVERITY_LABELS
from safety.risks import rules as risk_rules
from safety.risks import services as risk_services
from safety.risks import translations
from safety.risks.rules import Item, Option, Phase, Source
from safety.web import translated

#: The display formats templates pass to `local_time`, in Babel's patterns, so that other
#: languages get their own month names and order. Any other format (a form field's value,
#: "%Y-%m-%dT%H:%M") is machine-read and stays strftime.
_BABEL_PATTERNS = {
    "%d %b %Y, %H:%M %Z": "d MMM y, HH:mm",
    #: A day in a named zone, where the reader may have no clinic of their own (template pages).
    "%d %b %Y %Z": "d MMM y",
    "%d %b %Y, %H:%M": "d MMM y, HH:mm",
    "%d %b, %H:%M": "d MMM, HH:mm",
    "%d %b %H:%M": "d MMM HH:mm",
}


def local_time(
    value: datetime | None, zone: str | ZoneInfo, fmt: str = "%d %b %Y, %H:%M %Z"
) -> str:
    """Show a stored UTC time in the clinic's zone, in the reader's language.

    English keeps its strftime form; other languages read the same pattern with their own
    month names (Babel). The zone's abbreviation (EST, CET) is the same in every language.
    """
    if value is None:
        return ""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    local = value.astimezone(tz)
    language = i18n.current_language()
    pattern = _BABEL_PATTERNS.get(fmt)
    if language == languages.DEFAULT or pattern is None:
        return local.strftime(fmt)
    shown = babel_dates.format_datetime(local, pattern, tzinfo=tz, locale=language)
    return f"{shown} {local.strftime('%Z')}" if fmt.endswith("%Z") else shown


def utc_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


#: The one way a date reads on every page in English: "06 Dec 2026" (never ISO beside it).
DAY = "%d %b %Y"


def day(value: date | str | None, language: str | None = None) -> str:
    """Show a calendar date ("06 Dec 2026"; "6 déc. 2026"; "6 dic 2026") in a language.

    Answers keep dates as ISO text (a pack's expiry): those are read first; text that is
    not a date is shown as it is rather than hidden.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    language = language or i18n.current_language()
    if language == languages.DEFAULT:
        return value.strftime(DAY)
    return babel_dates.format_date(value, "d MMM y", locale=language)


def number(value: int | float | None) -> str:
    """Show a count with the reader's grouping ("12,345"; "12 345"; "12.345")."""
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=i18n.current_language())


def answer_text(item: Item, value: Any) -> str:
    """Return an answer the way a person would say it, in the reader's language."""
    if value is None:
        return "—"
    if item.type == "boolean":
        return gettext("Yes") if value else gettext("No")
    if item.type == "date":
        return day(value)  # stored ISO; read the way every page says a date
    if item.type in {"choice", "multichoice"}:
        codes = value if isinstance(value, list) else [value]
        return ", ".join(
            (option_text(item, option) if (option := item.option(c)) else c) for c in codes
        )
    return str(value)


# --- checklist words in the practitioner's language (safety.risks.translations) --------------
# The checklist templates call these instead of reading `item.text` and the like, so a session
# shows the practitioner's language while the answers stay linkIds and codes.


def item_text(item: Item) -> str:
    return translations.item_text(item, i18n.current_language())


def item_why(item: Item) -> str:
    return translations.item_why(item, i18n.current_language())


def option_text(item: Item, option: Option) -> str:
    return translations.option_text(item, option, i18n.current_language())


def stop_message(item: Item) -> str:
    return translations.stop_message(item, i18n.current_language())


def phase_title(phase: Phase) -> str:
    return translations.phase_title(phase, i18n.current_language())


def phase_saved(phase_id: str) -> str:
    """ "saved" beside a phase in the tracker, agreeing with the phase's name where the
    language needs it ("Accueil enregistré", "Pause de vérification enregistrée": one word
    for all three read "Accueil enregistrée" to a French reader)."""
    said = {
        "signin": pgettext("signin", "saved"),
        "timeout": pgettext("timeout", "saved"),
        "signout": pgettext("signout", "saved"),
    }
    return said.get(phase_id) or gettext("saved")


def phase_hint(phase: Phase) -> str:
    return translations.phase_hint(phase, i18n.current_language())


def source_citation(source: Source) -> str:
    return translations.source_citation(source, i18n.current_language())


def register_said(english: str) -> str:
    """The shipped register's own words (a risk's title, a follow-up time and why, what a
    study counted) in the reader's language, from the checklist translations; anything the
    register does not ship is shown as it is."""
    return translations.said(english, i18n.current_language())


def count_checks(template: Any) -> list[dict[str, Any]]:
    """The needle counts checklist.js compares, with the template's names for them ("used",
    "removed") in the reader's language."""
    language = i18n.current_language()
    return [
        {
            "counted": check.counted,
            "against": check.against,
            "words": [translations.said(word, language) for word in check.words],
            "atMost": check.at_most,
        }
        for check in template.count_checks
    ]


def checklist_wording() -> Wording:
    """The sign-off blockers said in the reader's language (checklists.rules.Wording)."""
    return Wording(
        gettext=translated,
        phase_title=phase_title,
        item_text=item_text,
        stop_message=stop_message,
    )


def because(template: Any, condition: Any) -> str:
    """One condition of a conditional item as a person says it: "you chose Neck", "you
    answered Yes to “…”", rather than the rule's own text (issue 17), in the reader's
    language (the item's and the option's words through the checklist's translations)."""
    question = template.items_by_id[condition.question]
    said = answer_text(question, condition.answer)
    positive = condition.operator == "="
    if question.type == "boolean":
        asked = item_text(question).rstrip(".")
        if positive:
            return gettext("you answered %(answer)s to “%(question)s”", answer=said, question=asked)
        return gettext(
            "you did not answer %(answer)s to “%(question)s”", answer=said, question=asked
        )
    if positive:
        return gettext("you chose %(answer)s", answer=said)
    return gettext("you did not choose %(answer)s", answer=said)


def _either(shown: list[str]) -> str:
    """ "Neck, Thorax or Arm" in the reader's language."""
    if len(shown) == 1:
        return shown[0]
    return gettext("%(first)s or %(last)s", first=", ".join(shown[:-1]), last=shown[-1])


def only_when(template: Any, item: Any) -> str:
    """The sentence shown beside a conditional item when no script can show it on demand.

    Choices of one question read as one phrase ("you chose Neck, Thorax or Arm"), so a
    region list does not repeat "you chose" for each region.
    """
    if item.enable_when_counts_differ:
        return gettext("Only when the needle counts do not reconcile.")
    groups: list[tuple[str, list[str]]] = []
    for condition in item.enable_when:
        question = template.items_by_id[condition.question]
        key = f"{condition.question}{condition.operator}"
        if question.type != "boolean" and condition.operator == "=":
            shown = answer_text(question, condition.answer)
            if groups and groups[-1][0] == key:
                groups[-1][1].append(shown)
                continue
            groups.append((key, [shown]))
        else:
            groups.append(("", [because(template, condition)]))
    phrases = [
        shown[0] if not key else gettext("you chose %(answer)s", answer=_either(shown))
        for key, shown in groups
    ]
    joiner = gettext(" or ") if item.enable_behavior == "any" else gettext(" and ")
    return gettext("Only when %(conditions)s.", conditions=joiner.join(phrases))


def followup_preview(session: Any, answers: dict[str, Any], now: datetime) -> str:
    """What signing now sends the patient, and when, in one sentence for the signing form.

    The same conditions as `followup.schedule.schedule_for_signed_session`, so the sentence
    never promises a message that will not be written (issue 17).
    """
    patient = session.patient
    channel = answers.get("signout.followup")
    if channel not in {"email", "sms"}:
        return gettext("No follow-up message will be sent: the follow-up was declined.")
    if not patient.is_followup_consent or patient.opted_out_dt is not None:
        return gettext("No follow-up message will be sent: the patient has not agreed to them.")
    contact = patient.email if channel == "email" else patient.phone
    if not contact:
        if channel == "email":
            return gettext("No follow-up message will be sent: there is no email address on file.")
        return gettext("No follow-up message will be sent: there is no mobile number on file.")
    zone = session.clinic.zone
    template = risk_services.typed(session.template_version)
    lung = followup_rules.near_lung(answers.get("signin.regions"), template.high_risk_regions)
    plans = followup_rules.plan_at_signing(
        now, zone, near_lung=lung, treated=followup_schedule.treated_at(session)
    )
    plans = [p for p in plans if not p.is_reminder]
    times = [
        gettext(
            "the %(kind)s on %(when)s",
            kind=gettext(followup_rules.kind_label(p.kind)),
            when=_weekday_time(p.due, zone),
        )
        for p in plans
    ]
    listed = (
        gettext("%(first)s and %(last)s", first=", ".join(times[:-1]), last=times[-1])
        if len(times) > 1
        else times[0]
    )
    if channel == "email":
        return gettext(
            "Signing now sends by email to %(contact)s: %(plan)s, with one reminder if the "
            "first goes unanswered.",
            contact=contact,
            plan=listed,
        )
    return gettext(
        "Signing now sends by text message to %(contact)s: %(plan)s, with one reminder if "
        "the first goes unanswered.",
        contact=contact,
        plan=listed,
    )


def _weekday_time(value: datetime, zone: ZoneInfo) -> str:
    """ "Mon 07 Dec at 10:15" in English; the other languages their own day and month names."""
    local = value.astimezone(zone)
    language = i18n.current_language()
    if language == languages.DEFAULT:
        return local.strftime("%a %d %b at %H:%M")
    return gettext(
        "%(day)s at %(time)s",
        day=babel_dates.format_date(local, "EEE d MMM", locale=language),
        time=local.strftime("%H:%M"),
    )


def age_text(created: datetime, now: datetime) -> str:
    """How long a flag has waited ("just now", "42 min", "30 h", "9 days"), in the largest unit
    that makes sense, in the reader's language (review.rules.flags.age_text says it in
    English for the CSV and the rules' tests)."""
    seconds = max(int((now - created).total_seconds()), 0)
    if seconds < 60:
        return gettext("just now")
    if seconds < 3600:
        return gettext("%(num)d min", num=seconds // 60)
    if seconds < 2 * 86400:
        return gettext("%(num)d h", num=seconds // 3600)
    return ngettext("%(num)d day", "%(num)d days", seconds // 86400)


#: Placeholders in patient texts that are numbers to call: they become tap-to-call links.
_PHONE_PLACEHOLDERS = ("emergency_number", "clinic_phone")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def patient_text(
    text: str, values: dict[str, Any], said: followup_texts.PatientTexts = followup_texts.ENGLISH
) -> Markup:
    """Fill a patient text's placeholders; numbers to call become tap-to-call links.

    Every piece is escaped: the clinic's name and number come from an administrator, and
    nothing they type may turn into markup on a patient's page. Dates and the words for a
    missing number are in the patient's language (`said`).
    """

    def fill(name: str) -> str:
        value = values.get(name)
        if name == "urgent_line":
            # The line's own number ("811 in most provinces") becomes the link to tap.
            line, number = str(escape(value or "")), values.get("urgent_number")
            if number and str(escape(number)) in line:
                dial = re.sub(r"[^0-9+]", "", number)
                link = f'<a class="tel" href="tel:{escape(dial)}">{escape(number)}</a>'
                return line.replace(str(escape(number)), link, 1)
            return line
        if name in _PHONE_PLACEHOLDERS:
            if not value:
                return str(escape(said.pages["no_phone"]))
            dial = re.sub(r"[^0-9+]", "", str(value))
            return f'<a class="tel" href="tel:{escape(dial)}">{escape(value)}</a>'
        if isinstance(value, date):
            return str(escape(said.date(value)))
        return str(escape(value if value is not None else ""))

    # split() puts each placeholder's name at the odd positions, the plain text between.
    pieces = _PLACEHOLDER.split(text)
    return Markup("".join(fill(p) if i % 2 else str(escape(p)) for i, p in enumerate(pieces)))


@cache
def _shipped_items() -> dict[str, tuple[dict[str, Any], ...]]:
    """Every shipped register's items by linkId, one for each wording, the newest first: a
    flag raised on an older version keeps the words that version asked ("No infection or
    broken skin…" before version 5's plain words), and is said again from them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for version in sorted(risk_rules.REGISTER_FILES, reverse=True):
        for item in risk_rules.load_register(version).items:
            wordings = found.setdefault(item["linkId"], [])
            if all(item["text"] != known["text"] for known in wordings):
                wordings.append(item)
    return {link_id: tuple(wordings) for link_id, wordings in found.items()}


def flag_message(flag: Any) -> str:
    """A flag's message in the reader's language.

    A flag stores the English it was raised with ("Gloves where blood contact is expected.
    Needed but not worn."): the question's words, then the answers that raised it. Where the
    question is one of the shipped register's, the message is said again from its parts in the
    reader's language; anything else (an imported template's words) is shown as stored."""
    message = flag.message
    language = i18n.current_language()
    if language == languages.DEFAULT or not message:
        return message
    if flag.kind == followup_rules.NO_ANSWER and message == followup_rules.NO_CHEST_ANSWER:
        return gettext(followup_rules.NO_CHEST_ANSWER)
    if message in (CANCELLED_AFTER_TIME_OUT.message, CANCELLED_AFTER_SIGN_OUT.message):
        return gettext(message)
    if message in followup_rules.NOT_SENT_MESSAGES:
        return gettext(message)
    if flag.kind in followup_rules.FLAG_MESSAGES:
        return _followup_flag_said(flag.kind, message)
    if flag.kind == "count_discrepancy" and message.startswith(_COUNTS):
        what = message[len(_COUNTS) : -1]
        return gettext("Needle counts do not reconcile: %(what)s.", what=_counts_said(what))
    item = next(
        (
            wording
            for wording in _shipped_items().get(flag.link_id or "", ())
            if message.startswith(wording["text"] + " ")
        ),
        None,
    )
    if item is None or not message.endswith("."):
        return message
    question = translations.said(item["text"], language, link_id=flag.link_id)
    rest = message[len(item["text"]) + 1 : -1]
    if rest.startswith(_ANSWERED):
        value = rest[len(_ANSWERED) :]
        value = {"yes": gettext("yes"), "no": gettext("no")}.get(value, value)
        answered = gettext("Answered: %(value)s.", value=value)
        return f"{question} {answered}"
    chosen, left = [], rest
    for option in sorted(item.get("options", ()), key=lambda o: -len(o["display"])):
        if option["display"] in left:
            chosen.append((rest.index(option["display"]), option["display"]))
            left = left.replace(option["display"], "", 1)
    if left.replace(",", "").strip():
        return message  # not only the register's options: shown as stored
    said = [translations.said(d, language, link_id=flag.link_id) for _, d in sorted(chosen)]
    return f"{question} {', '.join(said)}."


def _pattern(message: str) -> re.Pattern[str]:
    """A marked message with values, as a pattern that reads its values back out of the
    English it was filled in as ("%(check)s" becomes a group named check)."""
    parts = re.split(r"%\((\w+)\)s", message)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    )


def _followup_flag_said(level: str, message: str) -> str:
    """A follow-up answer's flag ("Same-day answer on the 24-hour check: a large or spreading
    bruise.") said again in the reader's language from the phrases it was composed of
    (followup.rules.FLAG_MESSAGES); a message of other words is shown as stored."""
    found = _pattern(followup_rules.FLAG_MESSAGES[level]).fullmatch(message)
    checks = {kind.label for kind in followup_rules.Kind}
    if found is None or found["check"] not in checks:
        return message
    said = []
    for part in found["reasons"].split("; "):
        also = _pattern(followup_rules.ALSO).fullmatch(part)
        reason = _reason_said(also["reasons"] if also else part)
        if reason is None:
            return message
        if also:
            levels = {label: code for code, label in followup_rules.LEVEL_LABELS.items()}
            if also["level"] not in levels:
                return message
            reason = gettext(followup_rules.ALSO, level=gettext(also["level"]), reasons=reason)
        said.append(reason)
    return gettext(
        followup_rules.FLAG_MESSAGES[level], check=gettext(found["check"]), reasons="; ".join(said)
    )


def _reason_said(english: str) -> str | None:
    """One reason of a follow-up flag in the reader's language, or None if it is not one."""
    if english in followup_rules.REASONS.values():
        return gettext(english)
    if score := _pattern(followup_rules.SORENESS_SCORE).fullmatch(english):
        return gettext(followup_rules.SORENESS_SCORE, score=score["score"])
    if signs := _pattern(followup_rules.SIGNS_FOUND).fullmatch(english):
        # The signs are stored as the form's codes: said as the reader's words for them.
        said = followup_texts.for_language(i18n.current_language())
        labels = dict(said.questions["signs"].options)
        codes = signs["signs"].split(", ")
        return gettext(followup_rules.SIGNS_FOUND, signs=", ".join(labels.get(c, c) for c in codes))
    return None


def _counts_said(what: str) -> str:
    """A count discrepancy as stored ("8 used / 7 removed", or version 1's "inserted 8,
    removed 7, disposed 7") in the reader's language; anything else as stored."""
    language = i18n.current_language()
    if found := _V1_COUNTS_STORED.fullmatch(what):
        return gettext(
            "inserted %(inserted)s, removed %(removed)s, disposed %(disposed)s", **found.groupdict()
        )
    pairs = [_COUNT_PAIR_STORED.fullmatch(part) for part in what.split("; ")]
    if not all(pairs):
        return translations.said(what, language)
    return "; ".join(
        gettext(
            COUNTS_SAID,
            counted=pair["counted"],
            counted_words=translations.said(pair["counted_words"], language),
            against=pair["against"],
            against_words=translations.said(pair["against_words"], language),
        )
        for pair in pairs
    )


_V1_COUNTS_STORED = re.compile(
    r"inserted (?P<inserted>\S+), removed (?P<removed>\S+), disposed (?P<disposed>\S+)"
)
_COUNT_PAIR_STORED = re.compile(
    r"(?P<counted>-?\d+) (?P<counted_words>.+?) / (?P<against>-?\d+) (?P<against_words>.+)"
)

#: The English a flag is raised with (safety.checklists.rules.flags_for).
_COUNTS = "Needle counts do not reconcile: "
_ANSWERED = "Answered: "


def error_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Name each field for an error summary in the reader's language: the labels are written
    once in English on the rules objects (marked, or a template's `Words`) and said here.

    A label is followed by its error, so it ends without a full stop, inside a sentence too
    ("Note for “Gloves worn”"): a question's own words often end with one.
    """
    return {name: _label(label) for name, label in labels.items()}


def _label(label: str) -> str:
    if isinstance(label, languages.Said):
        values = {
            key: _label(value) if isinstance(value, languages.Said | languages.Words) else value
            for key, value in label.values.items()
        }
        return gettext(label.msgid, **values)
    return str(translated(label)).strip(".")


def code_list(values: list[str]) -> Markup:
    """Values each in <code>, joined with the reader's "or" ("{GS} or |"): built here because a
    template's `~` escapes plain text beside a translated (safe) word."""
    return Markup(f" {escape(gettext('or'))} ").join(
        Markup("<code>{}</code>").format(value) for value in values
    )


def followup_unavailable(patient: Any, channel: str) -> str:
    """Why the sign-out page disables a follow-up channel for this patient ("" when it may be
    chosen): the same rule the server applies when the form is saved."""
    refusal = followup_rules.channel_refusal(channel, followup_rules.Reach.of(patient))
    if refusal is None:
        return ""
    missing = (followup_rules.NO_EMAIL, followup_rules.NO_PHONE)
    return gettext("(none on file)") if refusal in missing else gettext("(not agreed)")


FILTERS = {
    #: A word written in English in the rules (marked with N_), in the reader's language.
    "tr": translated,
    "local_time": local_time,
    "utc_time": utc_time,
    "day": day,
    "number": number,
    # Staff read the follow-up's words in their language; the stored codes never change.
    "followup_kind": lambda kind: gettext(followup_rules.kind_label(kind)),
    #: With the due time, a follow-up still scheduled after it reads "due, not sent yet".
    "followup_status": lambda status, due_dt=None: gettext(
        followup_rules.status_label(status, due_dt, utcnow())
    ),
    "followup_channel": lambda channel: gettext(
        followup_rules.CHANNEL_LABELS.get(channel, channel)
    ),
    #: "Called the patient": what a practitioner recorded doing, from its stored code.
    "handled_action": lambda code: gettext(followup_rules.HANDLED_ACTIONS.get(code, code)),
    "escalation": lambda level: gettext(followup_rules.LEVEL_LABELS.get(level, level)),
    #: The severity of the flag an answer's escalation raised ("critical" for an emergency),
    #: or None for no escalation: pages colour an answer as its flag, from the one mapping.
    "escalation_severity": lambda level: followup_rules.SEVERITY.get(level),
    "patient_answers": lambda response: followup_rules.answer_lines(
        response.answers,
        followup_texts.for_language(i18n.current_language()),
        translated,
        unanswered=followup_schedule.unanswered(response),
    ),
    "throttle_client": lambda bucket: translated(auth_rules.bucket_label(bucket)),
    #: A filter's (value, label) choice with its label in the reader's language.
    "translated_pair": lambda pair: (pair[0], translated(pair[1])),
    #: "Critical", "Critique", "Crítica": a flag's severity in the reader's language.
    "severity": lambda severity: translated(SEVERITY_LABELS.get(severity, severity)),
}
GLOBALS = {
    "code_list": code_list,
    "count_checks": count_checks,
    "register_said": register_said,
    "flag_message": flag_message,
    #: Templates ask the access policy, never the role string (DESIGN §6 in one place).
    "policy": policy,
    "answer_text": answer_text,
    "item_text": item_text,
    "item_why": item_why,
    "option_text": option_text,
    "stop_message": stop_message,
    "phase_title": phase_title,
    "phase_saved": phase_saved,
    "phase_hint": phase_hint,
    "source_citation": source_citation,
    "because": because,
    "only_when": only_when,
    "followup_preview": followup_preview,
    "followup_unavailable": followup_unavailable,
    "patient_text": patient_text,
    "patient_texts": followup_texts,
    "age_text": age_text,
    "incident_from_flag": incident_from_flag,
    "error_labels": error_labels,
}
