"""The command line: importing a risk section, creating accounts, seeding the demo."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import event_hash
from fhir.resources.R4B.questionnaire import Questionnaire
from sqlalchemy import func, select

from config import TestingConfig
from safety import create_app
from safety.audit import rules as audit_rules
from safety.audit.models import AuditChainHead, AuditEvent
from safety.auth import services as auth
from safety.auth.models import User
from safety.checklists import rules as checklist_rules
from safety.checklists import services as checklists
from safety.checklists.models import Flag, PhaseEntry, TreatmentSession
from safety.clinics.models import Clinic, Patient
from safety.extensions import db
from safety.followup.models import DevMessage
from safety.packs import services as packs
from safety.packs.models import SessionPack
from safety.risks import services as risks
from safety.risks.models import TemplateVersion
from safety.risks.rules import CURRENT_REGISTER, load_register

LEAFLET = """\
# Dry needling at Harbour Physio

Dry needling uses fine, sterile needles to release tight muscle.

## Benefits

- Pain relief within a few sessions.
- Faster return to sport.

## Risks and side effects

Like any treatment, dry needling has some risks:

- Blood-borne infection if needles are not sterile or are reused.
-Bleeding at the needle sites.
•Bruising around the needle sites.
* Temporary soreness after treatment, usually gone within 72 hours.
- Some people feel emotional for a day afterwards.

## Aftercare

Drink water and keep moving.
"""

#: A leaflet whose benefits name every risk but whose risk section names none of them.
BENEFITS_ONLY = """\
# Why choose dry needling

## Benefits

- Less bleeding, bruising and soreness than an injection.
- No risk of infection from reused needles: we use sterile single-use needles.

## Risks

- Some people feel emotional for a day afterwards.
"""

NO_RISK_SECTION = """\
# Dry needling at Harbour Physio

Dry needling releases tight muscle.

## Benefits

- Pain relief within a few sessions.
"""

GUIDANCE_KINDS = {"bloodborne_infection", "bleeding", "bruising", "soreness"}
RISK_SYSTEM = "urn:needlesafe:risk"
STRONG_PASSWORD = "plinth-lantern-orchard-42"
DEMO_EMAILS = {
    "practitioner@example.com",
    "practitioner2@example.com",
    "lead@example.com",
    "compliance@example.com",
    "admin@example.com",
}
EVERY_MODEL = (
    User,
    Clinic,
    Patient,
    TemplateVersion,
    TreatmentSession,
    PhaseEntry,
    Flag,
    AuditEvent,
)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counts() -> dict[str, int]:
    return {model.__name__: count(model) for model in EVERY_MODEL}


def write(tmp_path: Path, text: str, name: str = "leaflet.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def items_with_provenance(output: str) -> dict[str, list[str]]:
    """Read the printed draft: linkId -> the statements it was derived from."""
    items: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if match := re.match(r"^  \[([\w.]+)\] ", line):
            current = match.group(1)
            items[current] = []
        elif (match := re.match(r'^ +from: "(.*)"$', line)) and current:
            items[current].append(match.group(1))
    return items


def unmatched_statements(output: str) -> list[str]:
    _, _, rest = output.partition("Not matched to a known risk")
    return [line[4:] for line in rest.splitlines()[1:] if line.startswith("  - ")]


def baseline_link_ids() -> set[str]:
    return {item["linkId"] for item in load_register().items if item.get("baseline")}


def leaf_items(questionnaire: Questionnaire) -> list:
    return [item for group in questionnaire.item for item in group.item]


# --- flask risks import ---------------------------------------------------------------------


def test_importing_a_leaflet_prints_the_draft_with_provenance_and_stores_nothing(runner, tmp_path):
    before = counts()

    result = runner.invoke(args=["risks", "import", str(write(tmp_path, LEAFLET))])

    assert result.exit_code == 0, result.output
    assert "Risk section: Risks and side effects" in result.output
    items = items_with_provenance(result.output)
    assert items["timeout.needles_sterile"] == [
        "Blood-borne infection if needles are not sterile or are reused."
    ]
    assert items["signout.bleeding"] == ["Bleeding at the needle sites."]
    assert items["signout.bruising"] == ["Bruising around the needle sites."]
    assert items["signout.pain_during"] == [
        "Temporary soreness after treatment, usually gone within 72 hours."
    ]
    assert unmatched_statements(result.output) == [
        "Some people feel emotional for a day afterwards."
    ]
    assert "nothing was saved" in result.output
    assert counts() == before


def test_importing_ignores_benefits_and_aftercare_text(runner, tmp_path):
    result = runner.invoke(args=["risks", "import", str(write(tmp_path, LEAFLET))])

    assert result.exit_code == 0, result.output
    for outside in ("Pain relief", "return to sport", "Drink water", "fine, sterile needles"):
        assert outside not in result.output


def test_risks_named_only_in_the_benefits_add_no_items_beyond_the_baseline(runner, tmp_path):
    result = runner.invoke(args=["risks", "import", str(write(tmp_path, BENEFITS_ONLY))])

    assert result.exit_code == 0, result.output
    assert "Matched risk kinds: none" in result.output
    assert set(items_with_provenance(result.output)) == baseline_link_ids()
    assert unmatched_statements(result.output) == [
        "Some people feel emotional for a day afterwards."
    ]


def test_publishing_an_import_makes_it_the_current_version_with_an_audit_event(
    runner, tmp_path, make_user
):
    admin = make_user("admin", email="admin@clinic.test")
    default = risks.ensure_current_template()
    db.session.commit()

    result = runner.invoke(
        args=[
            "risks",
            "import",
            str(write(tmp_path, LEAFLET)),
            "--publish",
            "--by",
            "admin@clinic.test",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "Published as version 2" in result.output
    db.session.expire_all()
    current = risks.current_template()
    assert current.version == default.version + 1
    assert current.is_published
    assert current.published_by_id == admin.id
    assert current.unmatched == ["Some people feel emotional for a day afterwards."]
    assert "Some people feel emotional" in current.source_text
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "template.publish", AuditEvent.object_id == str(current.id)
        )
    )
    assert event is not None
    assert event.actor_id == admin.id
    assert event.object_type == "template_versions"
    assert event.details["version"] == current.version
    assert event.details["via"].startswith("cli:")
    # The earlier version is kept, unchanged, for the sessions that pinned it.
    assert db.session.get(TemplateVersion, default.id).definition == default.definition


def test_publishing_on_behalf_of_someone_who_is_not_an_administrator_is_refused(
    runner, tmp_path, make_user
):
    make_user("practitioner", email="prac@clinic.test")
    before = counts()

    result = runner.invoke(
        args=[
            "risks",
            "import",
            str(write(tmp_path, LEAFLET)),
            "--publish",
            "--by",
            "prac@clinic.test",
        ]
    )

    assert result.exit_code == 1
    assert "prac@clinic.test is not an administrator's account" in result.output
    assert counts() == before


def test_the_fhir_format_prints_a_valid_questionnaire_whose_items_carry_risk_codes(
    runner, tmp_path
):
    result = runner.invoke(
        args=["risks", "import", str(write(tmp_path, LEAFLET)), "--format", "fhir"]
    )

    assert result.exit_code == 0, result.output
    questionnaire = Questionnaire.model_validate_json(result.stdout)
    assert questionnaire.status == "draft"
    assert [group.linkId for group in questionnaire.item] == ["signin", "timeout", "signout"]
    items = {item.linkId: item for item in leaf_items(questionnaire)}
    codes = {
        link_id: {coding.code for coding in item.code or []} for link_id, item in items.items()
    }
    systems = {coding.system for item in items.values() for coding in item.code or []}
    assert systems == {RISK_SYSTEM}
    assert set().union(*codes.values()) >= GUIDANCE_KINDS
    assert "bloodborne_infection" in codes["timeout.needles_sterile"]
    assert "bleeding" in codes["signout.bleeding"]
    assert "bruising" in codes["signout.bruising"]
    assert "soreness" in codes["signout.pain_during"]
    assert count(TemplateVersion) == 0


def test_the_fhir_format_of_a_published_import_is_active(runner, tmp_path):
    result = runner.invoke(
        args=["risks", "import", str(write(tmp_path, LEAFLET)), "--format", "fhir", "--publish"]
    )

    assert result.exit_code == 0, result.output
    questionnaire = Questionnaire.model_validate(json.loads(result.stdout))
    assert questionnaire.status == "active"
    assert questionnaire.version == str(risks.current_template().version)


def test_a_document_without_a_risk_section_exits_1_with_a_clear_message(runner, tmp_path):
    before = counts()

    result = runner.invoke(
        args=["risks", "import", str(write(tmp_path, NO_RISK_SECTION)), "--publish"]
    )

    assert result.exit_code == 1
    assert "No risk section found" in result.output
    assert "'Risks', 'Side effects' or 'Complications'" in result.output
    assert "Traceback" not in result.output
    assert counts() == before


def test_a_missing_file_exits_non_zero_with_a_clear_message(runner, tmp_path):
    missing = tmp_path / "no-such-leaflet.md"

    result = runner.invoke(args=["risks", "import", str(missing)])

    assert result.exit_code != 0
    assert "No such file" in result.output
    assert str(missing) in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_file_that_is_not_text_exits_non_zero_with_a_clear_message(runner, tmp_path):
    path = tmp_path / "leaflet.pdf"
    path.write_bytes(b"%PDF-1.7\n\xff\xfe\x00\x81 binary")

    result = runner.invoke(args=["risks", "import", str(path)])

    assert result.exit_code == 1
    assert "Cannot read" in result.output
    assert "UTF-8" in result.output


# --- flask users create ---------------------------------------------------------------------


def users_create(runner, clinic: str | None, email: str = "nora.quinn@clinic.test", **kwargs):
    args = ["users", "create", "--email", email, "--name", "Nora Quinn", "--role", "practitioner"]
    if clinic:
        args += ["--clinic", clinic]
    return runner.invoke(args=args, **kwargs)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-pw", "Use at least 12 characters."),
        ("needlesafe-demo", "too common"),
        ("aaaaaaaaaaaaaaaa", "too common"),
        ("quinn-plinth-2031", "Do not use your name"),
    ],
)
def test_creating_a_user_refuses_a_weak_password_and_saves_nothing(
    runner, make_clinic, password, reason
):
    clinic = make_clinic("Harbour Physio")
    before = counts()

    result = users_create(runner, clinic.name, input=f"{password}\n{password}\n")

    assert result.exit_code == 1
    assert "The account was not created." in result.output
    assert reason in result.output
    assert auth.find_user("nora.quinn@clinic.test") is None
    assert counts() == before


def test_creating_a_user_at_an_unknown_clinic_is_refused_and_saves_nothing(runner, make_clinic):
    make_clinic("Harbour Physio")
    before = counts()

    result = users_create(runner, "Nowhere Physio", input=f"{STRONG_PASSWORD}\n" * 2)

    assert result.exit_code == 1
    assert "No clinic named 'Nowhere Physio'" in result.output
    assert counts() == before


def test_creating_a_practitioner_without_a_clinic_is_refused(runner):
    result = users_create(runner, None, input=f"{STRONG_PASSWORD}\n" * 2)

    assert result.exit_code == 1
    assert "A practitioner belongs to a clinic." in result.output
    assert auth.find_user("nora.quinn@clinic.test") is None


def test_creating_a_user_with_a_prompted_password_saves_an_account_that_can_sign_in(
    runner, make_clinic
):
    clinic = make_clinic("Harbour Physio")

    result = users_create(
        runner, clinic.name, email="Nora.Quinn@Clinic.Test", input=f"{STRONG_PASSWORD}\n" * 2
    )

    assert result.exit_code == 0, result.output
    assert "Created practitioner account nora.quinn@clinic.test." in result.output
    assert STRONG_PASSWORD not in result.output
    user = auth.find_user("nora.quinn@clinic.test")
    assert (user.name, user.role, user.clinic_id) == ("Nora Quinn", "practitioner", clinic.id)
    assert user.password_hash.startswith("$argon2id$")
    assert auth.authenticate("nora.quinn@clinic.test", STRONG_PASSWORD).id == user.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.create"))
    assert event.object_id == str(user.id)


def test_creating_a_user_accepts_the_password_as_an_option(runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "casey@clinic.test",
            "--name",
            "Casey Moss",
            "--role",
            "compliance",
            "--password",
            STRONG_PASSWORD,
        ]
    )

    assert result.exit_code == 0, result.output
    user = auth.find_user("casey@clinic.test")
    assert (user.role, user.clinic_id) == ("compliance", None)
    assert auth.password_matches(user, STRONG_PASSWORD)


def test_creating_a_user_whose_email_exists_is_refused(runner, make_user):
    existing = make_user("compliance", email="casey@clinic.test")

    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "CASEY@clinic.test",
            "--name",
            "Casey Other",
            "--role",
            "compliance",
            "--password",
            STRONG_PASSWORD,
        ]
    )

    assert result.exit_code == 1
    assert "already exists" in result.output
    assert auth.find_user("casey@clinic.test").id == existing.id
    assert count(User) == 1


# --- flask demo seed ------------------------------------------------------------------------


def seed_the_demo(runner) -> str:
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    return result.output


#: The demo is seeded once per module; each test that asks for `seeded` starts from it.
pytestmark = pytest.mark.world.with_args(seed_the_demo)


@pytest.fixture
def seeded(world) -> str:
    """What `flask demo seed` printed, on the database it seeded."""
    return world


def test_the_demo_seed_creates_the_five_demo_accounts_with_the_demo_password(seeded):
    users = {u.email: u for u in db.session.scalars(select(User))}

    assert set(users) == DEMO_EMAILS
    assert users["practitioner@example.com"].role == "practitioner"
    assert users["practitioner2@example.com"].role == "practitioner"
    assert users["lead@example.com"].lead_clinic_id == users["lead@example.com"].clinic_id
    assert users["compliance@example.com"].role == "compliance"
    assert users["admin@example.com"].role == "admin"
    for user in users.values():
        assert auth.password_matches(user, "needlesafe-demo")
    for email in DEMO_EMAILS:
        assert email in seeded


def test_the_demo_offers_its_packs_without_a_lot_recorded_with_two_expiry_dates(seeded):
    """Every demo lot once carried each session's own expiry, so "same pack as last session"
    warned of two expiry dates on every lot and a newcomer learnt to ignore it (a review)."""
    for email in ("practitioner@example.com", "practitioner2@example.com"):
        practitioner = auth.find_user(email)
        today = datetime.now(UTC).astimezone(practitioner.clinic.zone).date()
        offered = packs.recent_packs(practitioner, session_date=today)
        assert offered, email
        assert not [p.lot for p in offered if p.is_expiry_disputed]
    expiries: dict[str, set] = {}
    for lot_key, expiry in db.session.execute(select(SessionPack.lot_key, SessionPack.expiry)):
        expiries.setdefault(lot_key, set()).add(expiry)
    assert all(len(dates) == 1 for dates in expiries.values()), expiries


def test_the_demo_seed_puts_its_two_clinics_in_london_and_toronto(seeded):
    clinics = {c.id: c.timezone for c in db.session.scalars(select(Clinic))}
    london = auth.find_user("practitioner@example.com")
    toronto = auth.find_user("practitioner2@example.com")

    assert sorted(clinics.values()) == ["America/Toronto", "Europe/London"]
    assert clinics[london.clinic_id] == "Europe/London"
    assert clinics[toronto.clinic_id] == "America/Toronto"


def test_the_demo_seed_signs_sessions_at_both_clinics_on_both_checklist_versions(seeded):
    signed = list(
        db.session.scalars(select(TreatmentSession).where(TreatmentSession.signed_dt.is_not(None)))
    )
    discrepancies = list(db.session.scalars(select(Flag).where(Flag.kind == "count_discrepancy")))
    versions = {s.template_version.definition.get("register_version", 1) for s in signed}

    assert {s.clinic_id for s in signed} == {c.id for c in db.session.scalars(select(Clinic))}
    assert len(signed) >= 10
    assert versions == {1, CURRENT_REGISTER}
    # One session with a needle missing on each version (version 2 flags both of its counts).
    assert len({f.session_id for f in discrepancies}) == 2
    assert {f.severity for f in discrepancies} == {"critical"}
    assert all(f.session.is_signed for f in discrepancies)
    cancelled = db.session.scalars(
        select(TreatmentSession).where(TreatmentSession.cancelled_dt.is_not(None))
    ).all()
    assert len(cancelled) == 2 and all("consent" in s.cancel_reason for s in cancelled)
    assert f"Demo data created: {len(signed)} signed sessions." in seeded


def test_the_demo_seeds_signed_records_each_verify_against_their_content_hash(seeded):
    signed = db.session.scalars(
        select(TreatmentSession).where(TreatmentSession.signed_dt.is_not(None))
    ).all()

    for session in signed:
        content = checklists.signed_content(session)
        assert checklist_rules.content_hash(content) == session.content_hash, session.id


def test_after_the_demo_seed_work_once_sends_each_clinics_reminder_from_yesterday(
    runner, client, seeded
):
    result = runner.invoke(args=["reminders", "work", "--once"])

    assert result.exit_code == 0, result.output
    delivered = db.session.scalars(select(DevMessage)).all()
    reminders = [m for m in delivered if "/f/" in m.body]
    clinics = {m.subject.split(":")[0].strip() for m in reminders}
    assert clinics == {"Riverside Physio", "Lakeshore Sports Clinic"}
    # One in each language: English in London, French and Spanish in Toronto (DESIGN §11).
    greetings = sorted(m.body.split(",")[0] for m in reminders)
    assert greetings == ["Bonjour Chloé", "Hello Oliver", "Hola"], greetings
    assert any("Valentina" in m.body and "¿Cómo se siente" in m.body for m in reminders)
    # A newcomer can follow the link from the development outbox at once.
    path = re.search(r"http://localhost(/f/[A-Za-z0-9_-]+)\n", reminders[0].body).group(1)
    assert client.get(path).status_code == 200


def test_seeding_the_demo_twice_changes_nothing(runner, seeded):
    before = counts()

    result = runner.invoke(args=["demo", "seed"])

    assert result.exit_code == 0, result.output
    assert "Demo data already present; nothing changed." in result.output
    db.session.expire_all()
    assert counts() == before


def test_the_demo_seed_is_refused_outside_demo_mode(app):
    production_like = type(
        "ProductionLikeConfig",
        (TestingConfig,),
        {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "DEMO_MODE": False},
    )
    other = create_app(production_like)
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["demo", "seed"])
        refused_users = count(User)
        db.session.remove()
        db.engine.dispose()

    assert result.exit_code == 1
    assert "Demo data is refused in this environment" in result.output
    assert refused_users == 0
    assert count(User) == 0


def test_the_audit_chains_after_the_seed_have_no_gaps_and_every_hash_recomputes(seeded):
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    chains = sorted({e.chain_id for e in events})
    clinics = set(db.session.scalars(select(Clinic.id)))

    assert chains == [0, *sorted(clinics)]  # the system chain, and one per clinic
    for chain in chains:
        on_it = [e for e in events if e.chain_id == chain]
        assert [e.seq for e in on_it] == list(range(1, len(on_it) + 1))
        previous = audit_rules.GENESIS_HASH
        for event in on_it:
            assert event.prev_hash == previous, (chain, event.seq)
            assert event.hash == event_hash(event, event.prev_hash), (chain, event.seq)
            previous = event.hash
        head = db.session.get(AuditChainHead, chain)
        assert (head.last_seq, head.last_hash) == (len(on_it), previous)
    system = {e.action for e in events if e.chain_id == 0}
    clinic = {e.action for e in events if e.chain_id != 0}
    assert {"user.create", "template.publish"} <= system
    assert {"session.sign", "patient.create"} <= clinic


def test_the_demo_accounts_and_clinics_exist_before_the_history_they_hold(seeded):
    """Made at the seed's hour, each account read in the activity log as created weeks after
    the records it signed, and the lead as made lead before the account existed."""
    first_session = db.session.scalar(select(func.min(TreatmentSession.started_dt)))
    made = db.session.scalars(
        select(AuditEvent.created_dt).where(AuditEvent.action.in_(["user.create", "clinic.create"]))
    ).all()
    assert made
    assert max(made) < first_session
    assert max(u.created_dt for u in db.session.scalars(select(User))) < first_session


def test_the_demo_seed_records_incidents_of_each_kind_with_one_needlestick_still_open(seeded):
    from safety.incidents.models import Incident

    incidents = db.session.scalars(select(Incident)).all()
    assert {i.kind for i in incidents} == {"sharps_injury", "adverse_event", "near_miss"}
    open_steps = [i for i in incidents if i.kind == "sharps_injury" and len(i.steps) < 5]
    assert len(open_steps) == 1
    # A GTIN a lot trace accepts: the demo's once had a wrong check digit, and the trace
    # refused to look for it.
    from safety.packs import rules as packs_rules

    for incident in incidents:
        if incident.device_gtin:
            packs_rules.check_gtin(incident.device_gtin)


@pytest.mark.parametrize(
    "now",
    [
        # Toronto is still on the day before: its evening, the UTC date's small hours.
        datetime(2026, 12, 7, 0, 10, tzinfo=UTC),
        # London (summer time) is already on the next day while UTC is not.
        datetime(2026, 7, 1, 23, 30, tzinfo=UTC),
    ],
    ids=["toronto-evening", "london-after-midnight"],
)
def test_the_demo_seeds_whatever_the_hour_in_either_clinic(app, now):
    """`make run` seeds the demo at whatever time a newcomer runs it; the seed once gave a
    regulator report the UTC date, a day after Toronto's, and was refused from 00:00 to
    05:00 UTC. Its last fortnight is on checklist version 2 in both clinics, and no session
    started before its version was published: version 2 was once published at the seed's
    hour a fortnight ago, after a clinic's first sessions on it whenever the seed ran late in
    the clinic's day."""
    from safety.demo import services as demo
    from safety.incidents.models import ExternalReport

    assert demo.seed(now=now) > 0

    report = db.session.scalars(select(ExternalReport)).one()
    toronto = ZoneInfo("America/Toronto")
    reported = report.incident.occurred_dt + timedelta(hours=1)
    assert report.reported_on == reported.astimezone(toronto).date()
    before_their_version = [
        (clinic.name, session.started_dt, version.version, version.published_dt)
        for session, clinic, version in db.session.execute(
            select(TreatmentSession, Clinic, TemplateVersion)
            .join(Clinic, Clinic.id == TreatmentSession.clinic_id)
            .join(TemplateVersion, TemplateVersion.id == TreatmentSession.template_version_id)
        ).tuples()
        if session.started_dt < version.published_dt
        or (version.definition.get("register_version", 1) > 1)
        != (session.session_date >= now.astimezone(clinic.zone).date() - timedelta(days=14))
    ]
    assert not before_their_version


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 7, 3, 0, tzinfo=UTC),  # Monday, 03:00 in London, 22:00 in Toronto
        datetime(2026, 12, 8, 7, 0, tzinfo=UTC),  # Tuesday, 07:00 in London, 02:00 in Toronto
    ],
    ids=["monday-small-hours", "tuesday-early"],
)
def test_the_demo_puts_past_sessions_and_incidents_in_clinic_hours_whatever_the_seeds_hour(
    app, now
):
    """A demo seeded at 03:00 once showed a needlestick at midnight and a session signed at
    02:00: a clinic reading it saw its staff working through the night. Only today's two
    sessions (the one cancelled at Sign in and the one in progress) start when the seed runs,
    if that is before the clinic opens."""
    from safety.demo import services as demo
    from safety.incidents.models import Incident

    demo.seed(now=now)

    def in_hours(moment, zone, *, weekend: bool = False) -> bool:
        local = moment.astimezone(zone)
        return (weekend or local.weekday() < 5) and time(8) <= local.time() <= time(18, 30)

    sessions = db.session.execute(
        select(TreatmentSession, Clinic).join(Clinic, Clinic.id == TreatmentSession.clinic_id)
    ).tuples()
    # The sessions signed the day before may fall on a weekend (a Saturday clinic), so that
    # their 24-hour check alone is due.
    at_night = [
        (clinic.name, session.started_dt.astimezone(clinic.zone))
        for session, clinic in sessions
        if session.session_date < now.astimezone(clinic.zone).date()
        and not in_hours(session.started_dt, clinic.zone, weekend=True)
    ]
    assert not at_night
    incidents = db.session.scalars(select(Incident)).all()
    assert incidents
    assert not [
        (i.kind, i.occurred_dt.astimezone(i.clinic.zone))
        for i in incidents
        if not in_hours(i.occurred_dt, i.clinic.zone)
    ]
