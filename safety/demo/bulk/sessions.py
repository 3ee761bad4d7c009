"""One treatment session drawn as it went: the steps the practitioner took, and what followed.

Each step draws from the run's one random stream in a fixed order (a seed always gives the same
data; reorder the steps and every later session changes) and queues the rows and audit events
the application would write for it, on the batch being built. The record it signs is hashed by
`checklists.services.signed_content` itself, so `flask audit verify` recomputes the same hash.

It runs to about 750 lines on purpose: the steps are one sequence whose order is the seed's
contract, and reading them in one file is how a reviewer checks that each draw stays where it
was (test_bulk_seed holds the data to the application's own signing).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from safety.audit.services import Entry
from safety.checklists import rules as checklist_rules
from safety.checklists.models import FlagStatus
from safety.checklists.services import SIGNATURE_MEANING, signed_content
from safety.demo.bulk.world import (
    ANTICOAGULANT,
    BLEEDING_MINOR,
    BLEEDING_PRECAUTION,
    BLEEDING_PROLONGED,
    BRUISING_LARGE,
    BRUISING_SMALL,
    CHOICE_NOTES,
    COUNT_DISCREPANCY,
    COUNT_NOTE,
    COURSE_DAYS,
    DEVIATION_TOTAL,
    DEVIATION_TOTAL_V2,
    DEVIATIONS,
    DEVIATIONS_V2,
    FOLLOWUP_ANSWERED,
    FOLLOWUP_DECLINED_ON_THE_DAY,
    HIGH_RISK_PRECAUTION,
    LOT_SHELF_DAYS,
    LUNG_REGIONS,
    NEEDLE_COUNTS,
    OPENED_UNUSED,
    PAIN_CUMULATIVE,
    PAIN_SCORES,
    REACTIONS,
    REACTIONS_V2,
    REGION_CUMULATIVE,
    REGIONS,
    SORENESS,
    TICKED_TOGETHER,
    Lot,
    PlannedClinic,
)
from safety.demo.bulk.writer import Pending, stored_date, stored_time
from safety.followup import rules as followup_rules
from safety.followup.rules import Kind, Status
from safety.hashing import canonical_json, hashed_time, sha256_hex
from safety.packs.rules import normalise_lot
from safety.risks.rules import Template


@dataclass(slots=True)
class _Entry:
    """The attributes of a phase entry that `signed_content` reads."""

    id: int
    phase: str
    author_id: int
    submitted_dt: datetime
    answers: dict[str, Any]
    notes: dict[str, str]


@dataclass(slots=True)
class _Signed:
    """The attributes of a signed session that `signed_content` reads."""

    id: int
    clinic_id: int
    patient_id: int
    practitioner_id: int
    template_version_id: int
    session_date: date
    answers: dict[str, Any]
    notes: dict[str, str]
    entries: list[_Entry]
    signed_by_id: int
    signer_name: str
    signature_meaning: str
    signed_dt: datetime


@dataclass(frozen=True)
class Version:
    """A template version sessions pin: its id, number and typed template."""

    id: int
    number: int
    template: Template

    @property
    def is_v1(self) -> bool:
        return self.template.register_version == 1


@dataclass(slots=True)
class _Draft:
    """One session as it is drawn, phase by phase, until it is signed."""

    id: int
    day: date
    clinic: PlannedClinic
    practitioner_id: int
    practitioner_name: str
    patient_id: int
    version: Version
    signin: dict[str, Any] = field(default_factory=dict)
    timeout: dict[str, Any] = field(default_factory=dict)
    signout: dict[str, Any] = field(default_factory=dict)
    #: The practitioner's notes, by the linkId of the answer they explain.
    notes: dict[str, str] = field(default_factory=dict)
    #: An answer raises a flag, so the session is worth asking `flags_for` about.
    unusual: bool = False
    lot: Lot | None = None
    pain: int = 0
    bleeding: str = "none"
    bruising: str = "none"
    reaction: str = "none"
    channel: str = "declined"


def merge_json(*objects: str) -> str:
    """Join the canonical JSON of objects into that of one, when each object's keys all sort
    after the keys of the one before (as "signin.*" < "signout.*" < "timeout.*")."""
    return "{" + ",".join(o[1:-1] for o in objects if o != "{}") + "}"


class SessionDrawer:
    """Draw the sessions of a run one at a time, with the ids the generator assigns."""

    def __init__(
        self,
        rng: random.Random,
        pending: Pending,
        dialect: str,
        *,
        versions: tuple[Version, Version],
        version_2_from: int,
        lots: dict[str, list[Lot]],
        channels: dict[int, str],
        first_ids: tuple[int, int, int, int, int],
    ) -> None:
        self.rng = rng
        self.pending = pending
        self.dt = stored_time(dialect)
        self.day = stored_date(dialect)
        #: Version 1 for the days before `version_2_from`, version 2 from it on.
        self.versions = versions
        self.version_2_from = version_2_from
        self.lots = lots
        self.lot_days = {brand: [lot.released for lot in shelf] for brand, shelf in lots.items()}
        #: The channel each patient agreed to, as the generator registered them.
        self.channels = channels
        self.session_id, self.entry_id, self.followup_id, self.response_id, self.flag_id = first_ids
        #: Each kind of calm answer once: its stored JSON and the answers it spells.
        self.response_json: dict[tuple, tuple[str, dict[str, Any]]] = {}
        #: JSON of sign in and sign out answers, by the answers.
        self.answer_json: dict[tuple, str] = {}

    def session(self, n: int, day: date, start: datetime, clinic: PlannedClinic) -> None:
        """Draw one session as it went, phase by phase, then sign it and plan its follow-up.

        The steps draw from the one random stream in a fixed order, so a seed always gives the
        same data: change their order and every session after changes.
        """
        draft = self._open(n, day, clinic)
        if draft.version.is_v1:
            self._sign_in(draft)
            self._time_out(draft, n)
            self._sign_out(draft)
        else:
            self._sign_in_v2(draft)
            self._time_out_v2(draft, n)
            self._sign_out_v2(draft)
        self._deviate(draft)
        times, signed_dt = self._moments(start)
        entries, texts = self._submit_phases(draft, times)
        self._sign(draft, times[0], entries, texts, signed_dt)
        if draft.channel != "declined":
            self._followup(draft, signed_dt, treated=times[2])

    def _open(self, n: int, day: date, clinic: PlannedClinic) -> _Draft:
        """Start a session: which of the clinic's practitioners, for which of its patients."""
        session_id = self.session_id
        self.session_id += 1
        version = self.versions[n >= self.version_2_from]
        practitioner_id, practitioner_name = clinic.practitioners[
            int(self.rng.random() * len(clinic.practitioners))
        ]
        return _Draft(
            session_id,
            day,
            clinic,
            practitioner_id,
            practitioner_name,
            self._patient(n, clinic),
            version,
        )

    def _sign_in(self, draft: _Draft) -> None:
        """Sign in: consent, anticoagulants, the regions to be needled and their precautions."""
        rng = self.rng
        anticoagulant = rng.random() < ANTICOAGULANT
        r = rng.random()
        k = 1 if r < 0.55 else (2 if r < 0.9 else 3)
        chosen = set(rng.choices(REGIONS, cum_weights=REGION_CUMULATIVE, k=k))
        signin: dict[str, Any] = {
            "signin.authorised": True,
            "signin.consent": True,
            "signin.anticoagulant": anticoagulant,
            "signin.skin_ok": True,
            "signin.regions": [code for code in REGIONS if code in chosen],
        }
        if anticoagulant:
            signin["signin.bleeding_precaution"] = BLEEDING_PRECAUTION
        if "neck" in chosen or "thorax" in chosen:
            signin["signin.high_risk_precaution"] = HIGH_RISK_PRECAUTION
        draft.signin = signin

    def _time_out(self, draft: _Draft, n: int) -> None:
        """Time out: a lot on the clinic's shelf that day, the needles, the pain while needling."""
        rng = self.rng
        draft.lot = lot = self._lot(n, draft.clinic)
        inserted = NEEDLE_COUNTS[int(rng.random() * len(NEEDLE_COUNTS))]
        draft.pain = rng.choices(PAIN_SCORES, cum_weights=PAIN_CUMULATIVE)[0]
        draft.timeout = {
            "timeout.hand_hygiene": True,
            "timeout.needles_sterile": True,
            "timeout.needle_lot": lot.code,
            "timeout.needle_expiry": lot.expiry,
            "timeout.clean_field": True,
            "timeout.skin_prepared": True,
            "timeout.gloves": "worn" if rng.random() < 0.65 else "not_needed",
            "timeout.needles_inserted": inserted,
            "timeout.pain_during": draft.pain,
        }

    def _sign_out(self, draft: _Draft) -> None:
        """Sign out: the needle count, what happened, and whether the patient wants a follow-up."""
        rng = self.rng
        inserted = draft.timeout["timeout.needles_inserted"]
        removed = disposed = inserted
        discrepancy = rng.random() < COUNT_DISCREPANCY
        if discrepancy:
            draft.unusual = True
            if rng.random() < 0.5:
                removed = disposed = inserted - 1
            else:
                disposed = inserted - 1
        self._outcomes(draft)
        draft.channel = channel = self._channel(draft)
        draft.signout = {
            "signout.needles_removed": removed,
            "signout.needles_disposed": disposed,
            "signout.bleeding": draft.bleeding,
            "signout.bruising": draft.bruising,
            "signout.reaction": draft.reaction,
            "signout.fit_to_leave": True,
            "signout.hand_hygiene": True,
            "signout.aftercare": True,
            "signout.followup": channel,
        }
        if discrepancy:
            draft.signout["signout.count_discrepancy"] = COUNT_NOTE

    def _sign_in_v2(self, draft: _Draft) -> None:
        """Version 2's sign in: identity and screening, and the lung precaution where needed."""
        rng = self.rng
        anticoagulant = rng.random() < ANTICOAGULANT
        r = rng.random()
        k = 1 if r < 0.55 else (2 if r < 0.9 else 3)
        chosen = set(rng.choices(REGIONS, cum_weights=REGION_CUMULATIVE, k=k))
        fainter = rng.random() < 0.05
        signin: dict[str, Any] = {
            "signin.authorised": True,
            "signin.identity": True,
            "signin.consent": True,
            "signin.skin_ok": True,
            "signin.anticoagulant": anticoagulant,
            "signin.faint_history": fainter,
            "signin.conditions": ["none"],
            "signin.regions": [code for code in REGIONS if code in chosen],
        }
        if anticoagulant:
            signin["signin.bleeding_precaution"] = BLEEDING_PRECAUTION
        if fainter:
            signin["signin.lying_down"] = True
        if chosen & set(LUNG_REGIONS):
            signin["signin.lung_risk"] = ["none"]
            signin["signin.lung_precaution"] = HIGH_RISK_PRECAUTION
            signin["signin.position"] = "prone"
        draft.signin = signin

    def _time_out_v2(self, draft: _Draft, n: int) -> None:
        """Version 2's time out: only what is checked before the first needle."""
        rng = self.rng
        draft.lot = lot = self._lot(n, draft.clinic)
        draft.timeout = {
            "timeout.hand_hygiene": True,
            "timeout.needle_lot": lot.code,
            "timeout.needle_expiry": lot.expiry,
            "timeout.needles_sterile": True,
            "timeout.opened_in_view": True,
            "timeout.guide_tubes": "single_use" if rng.random() < 0.7 else "none",
            "timeout.field_ready": True,
            "timeout.no_touch": True,
            "timeout.skin_prepared": True,
            "timeout.gloves": "worn" if rng.random() < 0.65 else "not_needed",
        }

    def _sign_out_v2(self, draft: _Draft) -> None:
        """Version 2's sign out: needles opened, used, removed and disposed, then the patient."""
        rng = self.rng
        used = NEEDLE_COUNTS[int(rng.random() * len(NEEDLE_COUNTS))]
        opened = used + (1 if rng.random() < OPENED_UNUSED else 0)
        removed, disposed = used, opened
        discrepancy = rng.random() < COUNT_DISCREPANCY
        if discrepancy:
            draft.unusual = True
            if rng.random() < 0.5:
                removed, disposed = used - 1, opened - 1
            else:
                disposed = opened - 1
        draft.pain = rng.choices(PAIN_SCORES, cum_weights=PAIN_CUMULATIVE)[0]
        self._outcomes(draft)
        draft.channel = self._channel(draft)
        draft.signout = {
            "signout.needles_opened": opened,
            "signout.needles_used": used,
            "signout.needles_removed": removed,
            "signout.needles_disposed": disposed,
            "signout.sharps_safe": True,
            "signout.needles_intact": True,
            "signout.pain_during": draft.pain,
            "signout.bleeding": draft.bleeding,
            "signout.bruising": draft.bruising,
            "signout.reactions": [draft.reaction],
            "signout.fit_to_leave": True,
            "signout.hand_hygiene": True,
            "signout.aftercare": True,
            "signout.followup": draft.channel,
        }
        if discrepancy:
            draft.signout["signout.count_discrepancy"] = COUNT_NOTE

    def _channel(self, draft: _Draft) -> str:
        """The follow-up the patient agreed to, unless they declined it on the day."""
        channel = self.channels[draft.patient_id]
        if channel != "declined" and self.rng.random() < FOLLOWUP_DECLINED_ON_THE_DAY:
            channel = "declined"
        return channel

    def _outcomes(self, draft: _Draft) -> None:
        """Bleeding (likelier on anticoagulants), bruising and any reaction, noted when unusual."""
        rng = self.rng
        r = rng.random()
        anticoagulant = draft.signin["signin.anticoagulant"]
        prolonged, minor = BLEEDING_PROLONGED[anticoagulant], BLEEDING_MINOR[anticoagulant]
        bleeding = "prolonged" if r < prolonged else ("minor" if r < prolonged + minor else "none")
        r = rng.random()
        if r < BRUISING_LARGE:
            bruising = "large"
        else:
            bruising = "small" if r < BRUISING_LARGE + BRUISING_SMALL else "none"
        r = rng.random()
        reaction = "none"
        for code, p in REACTIONS if draft.version.is_v1 else REACTIONS_V2:
            if r < p:
                reaction = code
                break
            r -= p
        draft.bleeding, draft.bruising, draft.reaction = bleeding, bruising, reaction
        if bleeding == "prolonged" or bruising == "large" or reaction != "none":
            draft.unusual = True
            reactions = "signout.reaction" if draft.version.is_v1 else "signout.reactions"
            for link_id, value in (
                ("signout.bleeding", bleeding),
                ("signout.bruising", bruising),
                (reactions, reaction),
            ):
                if note := CHOICE_NOTES.get((link_id, value)):
                    draft.notes[link_id] = note

    def _deviate(self, draft: _Draft) -> None:
        """Now and then one check not done, with the practitioner's note, each at its own rate."""
        r = self.rng.random()
        total, deviations = (
            (DEVIATION_TOTAL, DEVIATIONS)
            if draft.version.is_v1
            else (DEVIATION_TOTAL_V2, DEVIATIONS_V2)
        )
        if r >= total:
            return
        for link_id, p, note in deviations:
            if r < p:
                draft.unusual = True
                phase = link_id.split(".")[0]
                getattr(draft, phase)[link_id] = False
                draft.notes[link_id] = note
                return
            r -= p

    def _moments(self, start: datetime) -> tuple[tuple[datetime, datetime, datetime], datetime]:
        """When each phase was submitted and when the record was signed.

        Each phase at its moment, or now and then all ticked together at the end.
        """
        random = self.rng.random
        if random() < TICKED_TOGETHER:
            end = start + timedelta(seconds=int(1500 + random() * 1200))
            times = (end, end + timedelta(seconds=20), end + timedelta(seconds=45))
        else:
            times = (
                start,
                start + timedelta(seconds=int(180 + random() * 360)),
                start + timedelta(seconds=int(1320 + random() * 1380)),
            )
        signed_dt = times[2] + timedelta(seconds=int(20 + random() * 280))
        return times, signed_dt

    def _submit_phases(
        self, draft: _Draft, times: Sequence[datetime]
    ) -> tuple[list[_Entry], list[str]]:
        """Write the three phase entries, each with its own notes, and their submit events,
        after the session's start event, written when it started (verify holds the start to
        it)."""
        self.pending.session_events.append(
            Entry(
                "session.create",
                draft.practitioner_id,
                "treatment_sessions",
                str(draft.id),
                {"template": draft.version.number, "patient": draft.patient_id},
                draft.clinic.id,
                times[0],
            )
        )
        notes = draft.notes
        entries = []
        texts = []
        for phase, answers, at in (
            ("signin", draft.signin, times[0]),
            ("timeout", draft.timeout, times[1]),
            ("signout", draft.signout, times[2]),
        ):
            own_notes = {k: v for k, v in notes.items() if k in answers} if notes else {}
            entries.append(
                _Entry(self.entry_id, phase, draft.practitioner_id, at, answers, own_notes)
            )
            text = self._answers_json(phase, answers)
            notes_text = canonical_json(own_notes) if own_notes else "{}"
            self.pending.session_events.append(
                Entry(
                    "session.phase_submit",
                    draft.practitioner_id,
                    "treatment_sessions",
                    str(draft.id),
                    {
                        "phase": phase,
                        "entry": self.entry_id,
                        "resubmitted": False,
                        # `checklist_rules.entry_hash`, from the texts written anyway: the
                        # canonical form of {"answers": ..., "notes": ...} is the two spliced.
                        "entry_hash": sha256_hex(f'{{"answers":{text},"notes":{notes_text}}}'),
                    },
                    draft.clinic.id,
                )
            )
            texts.append(text)
            self.pending.entries.rows.append(
                (
                    self.entry_id,
                    draft.id,
                    phase,
                    text,
                    notes_text,
                    draft.practitioner_id,
                    self.dt(at),
                )
            )
            if phase == "timeout" and draft.lot is not None:
                self.pending.packs.rows.append(
                    (
                        self.entry_id,
                        draft.id,
                        draft.clinic.id,
                        self.day(draft.day),
                        1,
                        draft.lot.code,
                        normalise_lot(draft.lot.code),
                        self.day(date.fromisoformat(draft.lot.expiry)),
                    )
                )
            self.entry_id += 1
        return entries, texts

    def _sign(
        self,
        draft: _Draft,
        started: datetime,
        entries: list[_Entry],
        texts: list[str],
        signed_dt: datetime,
    ) -> None:
        """Sign the record as `apply_signature` does: its content hash, outcomes and flags."""
        answers = {**draft.signin, **draft.timeout, **draft.signout}
        notes = draft.notes
        record = _Signed(
            draft.id,
            draft.clinic.id,
            draft.patient_id,
            draft.practitioner_id,
            draft.version.id,
            draft.day,
            answers,
            notes,
            entries,
            draft.practitioner_id,
            draft.practitioner_name,
            SIGNATURE_MEANING,
            signed_dt,
        )
        content_hash = checklist_rules.content_hash(signed_content(record))
        # A session without a flag-raising answer raises none (the tests hold every generated
        # session to flags_for); asking flags_for only about the others saves a fifth of the run.
        flags = checklist_rules.flags_for(draft.version.template, answers) if draft.unusual else ()
        self.pending.sessions.rows.append(
            (
                draft.id,
                draft.clinic.id,
                draft.patient_id,
                draft.practitioner_id,
                draft.version.id,
                self.day(draft.day),
                self.dt(started),
                draft.lot.code,
                merge_json(texts[0], texts[2], texts[1]),  # sign in, sign out, time out
                canonical_json(notes) if notes else "{}",
                self.dt(signed_dt),
                draft.practitioner_id,
                draft.practitioner_name,
                SIGNATURE_MEANING,
                content_hash,
                draft.bleeding,
                draft.bruising,
                draft.reaction,
                draft.pain,
                len(flags),
            )
        )
        raised = []
        for spec in flags:
            self.pending.flags.rows.append(
                (
                    self.flag_id,
                    draft.id,
                    spec.kind,
                    spec.severity,
                    spec.link_id,
                    spec.message,
                    FlagStatus.OPEN.value,
                    self.dt(signed_dt),
                )
            )
            # Each on the chain as `Flag.raise_details` puts it, when it was raised.
            details = {"session": draft.id, "kind": spec.kind, "severity": spec.severity}
            details["message_hash"] = sha256_hex(spec.message)
            raised.append(
                Entry(
                    "flag.raise",
                    draft.practitioner_id,
                    "flags",
                    str(self.flag_id),
                    details,
                    draft.clinic.id,
                    signed_dt,
                )
            )
            self.flag_id += 1
        self.pending.session_events.append(
            Entry(
                "session.sign",
                draft.practitioner_id,
                "treatment_sessions",
                str(draft.id),
                {"content_hash": content_hash},
                draft.clinic.id,
            )
        )
        self.pending.session_events.extend(raised)
        self.pending.last_signed = signed_dt

    def _answers_json(self, phase: str, answers: dict[str, Any]) -> str:
        """Return the JSON of a phase's answers; sign in and sign out repeat, so keep them."""
        if phase == "timeout":
            return canonical_json(answers)
        key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in answers.items())
        text = self.answer_json.get(key)
        if text is None:
            text = self.answer_json[key] = canonical_json(answers)
        return text

    def _followup(self, draft: _Draft, signed_dt: datetime, *, treated: datetime) -> None:
        """The 24-hour check as it went: sent, and usually answered within hours.

        Only the 24-hour check is written, for either version: the later checks would add
        rows the benchmarks do not read. It is due when signing would have put it, a day after
        the sign-out (`treated`) rather than after the signature.
        """
        rng = self.rng
        session_id, clinic, channel = draft.id, draft.clinic, draft.channel
        first, *_later = followup_rules.plan_at_signing(
            signed_dt, clinic.zone, near_lung=False, treated=treated
        )
        due = first.due
        followup_id = self.followup_id
        self.followup_id += 1
        answered = rng.random() < FOLLOWUP_ANSWERED
        answered_dt = due + timedelta(seconds=int(600 + rng.random() * 35400)) if answered else None
        self.pending.followups.rows.append(
            (
                followup_id,
                session_id,
                Kind.DAY_1.value,
                channel,
                self.dt(due),
                (Status.ANSWERED if answered else Status.SENT).value,
                self.dt(answered_dt),
                self.dt(signed_dt),
            )
        )
        self.pending.session_events.append(
            Entry(
                "followup.schedule",
                None,
                "treatment_sessions",
                str(session_id),
                {
                    "kinds": [Kind.DAY_1.value],
                    "channel": channel,
                    "followups": {Kind.DAY_1.value: followup_id},
                },
                clinic.id,
            )
        )
        if answered:
            self._answer(followup_id, draft, answered_dt)

    def _answer(self, followup_id: int, draft: _Draft, answered_dt: datetime) -> None:
        """An uneventful answer: a little soreness, now and then a small bruise.

        It answers the questions the 24-hour check of the session's version asks.
        """
        rng = self.rng
        session_id = draft.id
        asks = (
            ("soreness", "trend", "bleeding", "bruising", "signs", "chest")
            if draft.version.is_v1
            else followup_rules.questions_asked(
                Kind.DAY_1,
                draft.signin["signin.regions"],
                draft.version.template.high_risk_regions,
            )
        )
        key = (
            SORENESS[int(rng.random() * len(SORENESS))],
            "none" if rng.random() < 0.9 else "small",
            asks,
        )
        known = self.response_json.get(key)
        if known is None:
            calm = {
                "soreness": key[0],
                "trend": "better",
                "bleeding": "none",
                "bruising": key[1],
                "numbness": "no",
                "head_signs": "no",
                "fainted": "no",
                "needle_found": "no",
                "chest": "no",
                "signs": [],
            }
            answers = {name: calm[name] for name in asks if name in calm}
            known = self.response_json[key] = (canonical_json(answers), answers)
        text, answers = known
        self.pending.responses.rows.append(
            (
                self.response_id,
                followup_id,
                session_id,
                text,
                followup_rules.NONE,
                self.dt(answered_dt),
            )
        )
        self.pending.session_events.append(
            Entry(
                "followup.response",
                None,
                "patient_responses",
                str(self.response_id),
                {
                    "followup": followup_id,
                    "kind": Kind.DAY_1.value,
                    "escalation": followup_rules.NONE,
                    # As `followup.patient.answer` signs it, so verify hashes every answer
                    # here too: without it the bench's verify skipped the work real data
                    # costs (found 2026-12-08).
                    "content_hash": sha256_hex(
                        followup_rules.response_content(
                            followup_id=followup_id,
                            answers=answers,
                            escalation=followup_rules.NONE,
                            created=hashed_time(answered_dt),
                        )
                    ),
                },
                draft.clinic.id,
            )
        )
        self.response_id += 1

    # --- choosing from the clinic's patients and shelf ---------------------------------------

    def _patient(self, n: int, clinic: PlannedClinic) -> int:
        """A patient of the clinic whose course of treatment covers day n."""
        hi = bisect.bisect_right(clinic.patient_days, n)
        lo = min(bisect.bisect_right(clinic.patient_days, n - COURSE_DAYS), hi - 1)
        return clinic.patient_ids[lo + int(self.rng.random() * (hi - lo))]

    def _lot(self, n: int, clinic: PlannedClinic) -> Lot:
        """A lot of the clinic's brand that is on its shelf on day n."""
        brand = clinic.brands[0] if self.rng.random() < 0.8 else clinic.brands[1]
        days = self.lot_days[brand]
        hi = bisect.bisect_right(days, n - LOT_SHELF_DAYS[0])
        lo = min(bisect.bisect_left(days, n - LOT_SHELF_DAYS[1]), hi - 1)
        return self.lots[brand][lo + int(self.rng.random() * (hi - lo))]
