"""Evidence an insider cannot forge (DESIGN §5): signed checkpoints kept outside the database.

Each attack here is what someone with write access to the database and the public source,
but not the signing key, would do: change rows, recompute every hash with the public recipe,
re-chain what follows, move the head and put the triggers back (tests/insider.py). Without a
checkpoint the database then verifies as intact, which each attack shows first; with one,
`flask audit verify` exits 1 naming the first checkpoint the database no longer matches.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import PASSWORD, login
from insider import guards_off, rechain
from sqlalchemy import func, select, text

from safety.audit import rules as audit_rules
from safety.audit import services as audit
from safety.audit.models import AuditChainHead, AuditEvent
from safety.checklists import rules as checklist_rules
from safety.checklists.models import TreatmentSession
from safety.checklists.services import signed_content
from safety.extensions import db
from safety.followup.models import DevMessage
from safety.hashing import canonical_json
from safety.integrity import checkpoints, evidence, merkle, store, triggers
from safety.integrity.evidence import EvidenceError
from safety.integrity.verify import verify

ALL_PHASES = ("signin", "timeout", "signout")


def two_clinics(make_user, make_session) -> dict[str, int]:
    """Two clinics with two signed records each, and a compliance officer."""
    ids: dict[str, int] = {"officer": make_user("compliance").id}
    for clinic in ("a", "b"):
        practitioner = make_user()
        for n in (1, 2):
            record = make_session(practitioner, phases=ALL_PHASES, sign=True)
            ids[f"{clinic}{n}"] = record.id
        ids[f"clinic_{clinic}"] = practitioner.clinic_id
    return ids


pytestmark = pytest.mark.world.with_args(two_clinics)


@pytest.fixture
def history(world) -> dict[str, int]:
    return world


@pytest.fixture
def checkpointed(history) -> dict[str, int]:
    """The history, with one signed checkpoint of it."""
    assert checkpoints.make() is not None
    db.session.commit()
    return history


def verified() -> str | None:
    db.session.expire_all()
    return verify().problem


def store_path(app) -> Path:
    return Path(app.config["AUDIT_CHECKPOINT_DIR"])


def wipe_the_store(app) -> list[dict]:
    """What the insider would do to a store on the same host: empty it (returning its lines)."""
    kept = store.read_all(store_path(app))
    for path in store_path(app).glob("*.jsonl"):
        path.unlink()
    return kept


# --- making checkpoints --------------------------------------------------------------------------


def test_a_checkpoint_signs_every_chains_merkle_root_and_goes_to_the_store(app, history):
    made = checkpoints.make()
    db.session.commit()

    chains = {h["chain"]: h for h in made["chains"]}
    assert set(chains) == {
        "system",
        f"clinic:{history['clinic_a']}",
        f"clinic:{history['clinic_b']}",
    }
    for name, head in chains.items():
        chain = checkpoints.chain_of(name)
        hashes = db.session.scalars(
            select(AuditEvent.hash).where(AuditEvent.chain_id == chain).order_by(AuditEvent.seq)
        ).all()
        assert head["size"] == len(hashes)
        assert head["root"] == merkle.root([evidence.event_leaf(h) for h in hashes]).hex()
    assert made["events"] == db.session.scalar(select(func.count()).select_from(AuditEvent))
    fingerprint = checkpoints.trusted_fingerprint()
    evidence.check_checkpoint(made, fingerprint)  # signed by the trusted key
    assert store.read_all(store_path(app)) == [made]
    key_file = Path(app.config["AUDIT_SIGNING_KEY_FILE"])
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_the_next_checkpoint_reads_only_what_is_new_and_extends_the_last(app, checkpointed):
    first = checkpoints.latest()
    assert checkpoints.make() is None  # nothing audited since

    audit.record("test.after", object_type=None)
    db.session.commit()
    second = checkpoints.make()
    db.session.commit()

    assert second["number"] == first.number + 1
    assert second["previous"] == evidence.checkpoint_hash(json.loads(first.body))
    evidence.check_sequence(store.read_all(store_path(app)))
    moved = {
        h.chain_id
        for h in db.session.scalars(select(checkpoints.CheckpointHead))
        if h.number == second["number"]
    }
    assert moved == {0}  # only the system chain moved
    assert verified() is None


def test_a_checkpoint_made_the_next_day_follows_the_one_in_yesterdays_file(app, checkpointed):
    first = checkpoints.latest()
    audit.record("test.after", object_type=None)
    db.session.commit()
    tomorrow = first.created_dt + timedelta(days=1)

    second = checkpoints.make(now=tomorrow)
    db.session.commit()

    assert second["previous"] == evidence.checkpoint_hash(json.loads(first.body))
    assert len(list(store_path(app).glob("checkpoints-*.jsonl"))) == 2
    assert store.newest(store_path(app)) == second
    assert verified() is None


def test_an_untouched_database_verifies_against_its_checkpoints(runner, checkpointed):
    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "held to 1 signed checkpoints (the newest: 1 of" in result.output


def test_the_checkpoint_command_prints_one_json_line(runner, history):
    result = runner.invoke(args=["audit", "checkpoint"])

    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert "\n" not in line
    assert json.loads(line)["number"] == 1


# --- the insider's attacks -----------------------------------------------------------------------


def _rewrite_record(record_id: int, lot: str) -> None:
    """Change a signed record's lot and bleeding answers (and its pack), rehash it, rewrite its
    signing event with the new hash, and re-chain everything after it on its clinic's chain."""
    with guards_off():
        record = db.session.get(TreatmentSession, record_id)
        answers = {**record.answers, "timeout.needle_lot": lot, "signout.bleeding": "none"}
        db.session.execute(
            text(
                "UPDATE treatment_sessions SET answers = "
                + ("CAST(:a AS jsonb)" if db.engine.dialect.name == "postgresql" else ":a")
                + ", needle_lot = :lot, bleeding = 'none' WHERE id = :id"
            ),
            {"a": canonical_json(answers), "lot": lot, "id": record_id},
        )
        # The pack the lot trace reads goes with it, or verify names the pack instead.
        db.session.execute(
            text(
                "UPDATE session_packs SET lot = :lot, lot_key = :lot "
                "WHERE session_id = :id AND position = 1"
            ),
            {"lot": lot, "id": record_id},
        )
        db.session.expire_all()
        record = db.session.get(TreatmentSession, record_id)
        rehashed = checklist_rules.content_hash(signed_content(record))
        db.session.execute(
            text("UPDATE treatment_sessions SET content_hash = :h WHERE id = :id"),
            {"h": rehashed, "id": record_id},
        )
        sign_event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "session.sign", AuditEvent.object_id == str(record_id)
            )
        )
        details = json.dumps({**sign_event.details, "content_hash": rehashed})
        db.session.execute(
            text(
                "UPDATE audit_events SET details = "
                + ("CAST(:d AS json)" if db.engine.dialect.name == "postgresql" else ":d")
                + " WHERE id = :id"
            ),
            {"d": details, "id": sign_event.id},
        )
        rechain(record.clinic_id)


def test_a_record_rewritten_and_re_chained_is_named_by_the_checkpoint(app, runner, checkpointed):
    kept = wipe_the_store(app)
    _rewrite_record(checkpointed["a1"], "FORGED-LOT")
    # Without the store the forgery itself passes, but the store's loss is found.
    assert verified().startswith("checkpoint 1 is in the database but not in the checkpoint")
    for line in kept:
        store.append(store_path(app), line, day=datetime.now(UTC))

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "checkpoint 1 of" in result.output
    assert f"the chain of clinic {checkpointed['clinic_a']}" in result.output
    assert "are not the ones it signed: they were rewritten, re-chained or rebuilt" in result.output


def test_a_cut_tail_is_named_by_the_checkpoint(app, checkpointed):
    chain = checkpointed["clinic_b"]
    with guards_off():
        last = db.session.scalar(
            select(func.max(AuditEvent.seq)).where(AuditEvent.chain_id == chain)
        )
        db.session.execute(
            text("DELETE FROM audit_events WHERE chain_id = :c AND seq > :s"),
            {"c": chain, "s": last - 3},
        )
        rechain(chain)

    problem = verified()

    assert problem.startswith("checkpoint 1 of")
    assert (
        f"has {last - 3} events but the checkpoint counted {last}: events were removed" in problem
    )


def test_an_event_deleted_in_the_middle_and_the_rest_renumbered_is_named(app, checkpointed):
    chain = checkpointed["clinic_a"]
    with guards_off():
        db.session.execute(
            text("DELETE FROM audit_events WHERE chain_id = :c AND seq = 3"), {"c": chain}
        )
        rechain(chain, renumber=True)

    problem = verified()

    assert problem.startswith("checkpoint 1 of") and "events were removed" in problem


def test_a_rebuilt_audit_table_is_named(app, checkpointed):
    """Every event read out, one detail changed, the table emptied and written again."""
    with guards_off():
        rows = db.session.execute(text("SELECT * FROM audit_events ORDER BY id")).mappings().all()
        db.session.execute(text("DELETE FROM audit_events"))
        for row in rows:
            values = dict(row)
            if values["action"] == "user.create":
                values["details"] = '{"role":"admin"}'
            if db.engine.dialect.name == "postgresql" and not isinstance(values["details"], str):
                values["details"] = json.dumps(values["details"])
            cast = (
                "CAST(:details AS json)" if db.engine.dialect.name == "postgresql" else ":details"
            )
            db.session.execute(
                text(
                    "INSERT INTO audit_events (id, chain_id, seq, created_dt, actor_id, action, "
                    "object_type, object_id, details, prev_hash, hash) VALUES (:id, :chain_id, "
                    f":seq, :created_dt, :actor_id, :action, :object_type, :object_id, {cast}, "
                    ":prev_hash, :hash)"
                ),
                values,
            )
        for chain in db.session.scalars(select(AuditChainHead.id)):
            rechain(chain)

    problem = verified()

    assert problem.startswith("checkpoint 1 of")
    assert "the system chain are not the ones it signed" in problem


def test_a_dropped_a_disabled_and_a_replaced_trigger_are_each_named(app, history):
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ALTER TABLE addenda DISABLE TRIGGER addenda_append_only"))
        db.session.commit()
        assert verified() == "the immutability trigger addenda_append_only on addenda is disabled"
        db.session.execute(text("ALTER TABLE addenda ENABLE TRIGGER addenda_append_only"))
        db.session.execute(
            text(
                "CREATE OR REPLACE FUNCTION needlesafe_refuse_change() RETURNS trigger AS "
                "$$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql"
            )
        )
        db.session.commit()
        assert "was altered" in verified()
        return
    db.session.execute(text("DROP TRIGGER addenda_append_only_update"))
    db.session.commit()
    assert verified() == (
        "the immutability trigger addenda_append_only_update on addenda is missing"
    )
    db.session.execute(
        text(
            "CREATE TRIGGER addenda_append_only_update BEFORE UPDATE ON addenda FOR EACH ROW "
            "WHEN 0 BEGIN SELECT RAISE(ABORT, 'needlesafe: UPDATE on addenda refused: the row "
            "is immutable'); END"
        )
    )
    db.session.commit()
    assert verified() == (
        "the immutability trigger addenda_append_only_update on addenda was altered"
    )


def test_a_guard_regrouped_so_it_never_fires_is_named_as_altered(app, history):
    """The same words in other parentheses: on SQLite `OLD.signed_dt IS (NOT NULL OR …)` is
    never true, on PostgreSQL NOT over the whole rest of the pack guard lets any change by."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("DROP TRIGGER session_packs_append_only_update ON session_packs"))
        db.session.execute(
            text(
                "CREATE TRIGGER session_packs_append_only_update BEFORE UPDATE ON session_packs "
                "FOR EACH ROW WHEN (OLD.superseded OR NOT (NEW.superseded OR "
                + " OR ".join(
                    f"NEW.{name}{cast} IS DISTINCT FROM OLD.{name}{cast}"
                    for name, cast in triggers._PACK_COLUMNS
                )
                + ")) EXECUTE FUNCTION needlesafe_refuse_change()"
            )
        )
        db.session.commit()
        assert verified() == (
            "the immutability trigger session_packs_append_only_update on session_packs was altered"
        )
        return
    for verb in ("update", "delete"):
        db.session.execute(text(f"DROP TRIGGER treatment_sessions_signed_{verb}"))
        db.session.execute(
            text(
                f"CREATE TRIGGER treatment_sessions_signed_{verb} BEFORE {verb.upper()} ON "
                "treatment_sessions FOR EACH ROW WHEN OLD.signed_dt IS (NOT NULL OR "
                "OLD.cancelled_dt IS NOT NULL) BEGIN SELECT RAISE(ABORT, 'needlesafe: "
                f"{verb.upper()} on treatment_sessions refused: the row is immutable'); END"
            )
        )
    db.session.commit()
    assert verified() == (
        "the immutability trigger treatment_sessions_signed_update on treatment_sessions "
        "was altered"
    )


def test_a_checkpoint_signed_with_another_key_is_refused(app, checkpointed):
    impostor = evidence.Ed25519PrivateKey.generate()
    last = store.read_all(store_path(app))[-1]
    body = {k: v for k, v in last.items() if k != "signature"}
    body.update(
        number=2,
        previous=evidence.checkpoint_hash(last),
        key=evidence.public_key_hex(impostor.public_key()),
    )
    store.append(store_path(app), evidence.sign_checkpoint(body, impostor), day=datetime.now(UTC))

    problem = verified()

    assert problem.startswith("checkpoint 2 is signed by a key that is not the trusted one")


def test_an_edited_checkpoint_file_is_refused(app, checkpointed):
    path = next(store_path(app).glob("*.jsonl"))
    line = json.loads(path.read_text())
    line["chains"][0]["size"] -= 1  # to make a cut tail look expected
    path.write_text(canonical_json(line) + "\n")

    assert "the signature does not match its content" in verified()


def test_the_e_mailed_checkpoint_catches_an_attack_after_the_store_was_wiped(
    app, runner, checkpointed, tmp_path
):
    mailed = tmp_path / "from-the-email.jsonl"
    # Saved from a mail program by an editor that starts the file with a byte-order mark.
    mailed.write_text("\ufeff" + canonical_json(store.read_all(store_path(app))[-1]) + "\n")
    wipe_the_store(app)
    _rewrite_record(checkpointed["b2"], "FORGED-B")

    # The emptied store is itself found: the database made a checkpoint it no longer holds.
    wiped = runner.invoke(args=["audit", "verify"])
    assert wiped.exit_code == 1
    assert "checkpoint 1 is in the database but not in the checkpoint store" in wiped.output
    result = runner.invoke(args=["audit", "verify", "--checkpoint", str(mailed)])

    assert result.exit_code == 1
    assert "checkpoint 1 of" in result.output and "not the ones it signed" in result.output


def test_a_handed_in_file_that_is_not_a_checkpoint_gets_a_clear_message(runner, history, tmp_path):
    junk = tmp_path / "note.txt"
    junk.write_text("hello\n")

    result = runner.invoke(args=["audit", "verify", "--checkpoint", str(junk)])

    assert result.exit_code == 1
    assert "does not hold checkpoints as JSON lines" in result.output


# --- appending: one chain per clinic, the lock held only at commit --------------------------------


def test_each_clinics_events_are_on_its_own_chain_and_the_rest_on_the_system_chain(history):
    chains = dict(
        db.session.execute(
            select(AuditEvent.object_id, AuditEvent.chain_id).where(
                AuditEvent.action == "session.sign"
            )
        ).all()
    )
    users = set(
        db.session.scalars(select(AuditEvent.chain_id).where(AuditEvent.action == "user.create"))
    )

    assert chains[str(history["a1"])] == chains[str(history["a2"])] == history["clinic_a"]
    assert chains[str(history["b1"])] == history["clinic_b"]
    assert users == {0}


@pytest.mark.real_commits  # a second connection appends while the first holds its events
def test_recording_an_event_takes_no_lock_until_the_transaction_commits(app, history):
    record = db.session.get(TreatmentSession, history["a1"])
    audit.record("test.pending", obj=record)  # queued in this transaction, not yet appended
    appended = threading.Event()

    def another_request() -> None:
        with app.app_context():
            audit.record("test.meanwhile", clinic_id=history["clinic_a"])
            db.session.commit()
            db.session.remove()
        appended.set()

    other = threading.Thread(target=another_request)
    other.start()
    other.join(timeout=20)
    assert appended.is_set()  # it did not wait for this transaction
    db.session.commit()

    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.chain_id == history["clinic_a"])
        .order_by(AuditEvent.seq.desc())
        .limit(2)
    ).all()
    assert actions == ["test.pending", "test.meanwhile"]
    assert verified() is None


@pytest.mark.real_commits  # writers and verify each on a connection of their own
def test_an_untouched_database_verifies_while_clinics_write_and_checkpoints_are_made(app, history):
    stop = threading.Event()
    errors: list[BaseException] = []

    def clinic_writes(chain: int) -> None:
        try:
            with app.app_context():
                while not stop.is_set():
                    for n in range(3):
                        audit.record("test.busy", clinic_id=chain, details={"n": n})
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    writers = [
        threading.Thread(target=clinic_writes, args=(chain,))
        for chain in (history["clinic_a"], history["clinic_b"], 0)
    ]
    for writer in writers:
        writer.start()
    try:
        problems = []
        for _ in range(3):
            checkpoints.make()
            db.session.commit()
            problems.append(verified())
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=30)

    assert errors == []
    assert problems == [None, None, None]


# --- receipts ------------------------------------------------------------------------------------


def test_a_receipt_proves_a_record_offline_with_the_public_key_alone(app, checkpointed):
    receipt = checkpoints.prove(checkpointed["b1"])
    fingerprint = checkpoints.trusted_fingerprint()

    proved = evidence.check_receipt(
        json.loads(json.dumps(receipt)), fingerprint, audit_rules.event_hash
    )

    assert proved.startswith(f"record {checkpointed['b1']} with content hash ")
    assert "included in checkpoint 1 of" in proved


def _respelt(created: str) -> str:
    """The same instant in London's winter spelling ("Z" for "+00:00")."""
    assert created.endswith("+00:00")
    return created.removesuffix("+00:00") + "Z"


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (lambda r: r.update(content_hash="0" * 64), "names another content hash"),
        (lambda r: r["event"].update(action="session.view"), "fields do not give its hash"),
        (lambda r: r.update(inclusion=["00" * 32, *r["inclusion"][1:]]), "not in its chain's tree"),
        (lambda r: r["chain_head"].update(size=r["chain_head"]["size"] + 1), "not in its chain"),
        (lambda r: r["checkpoint"].update(events=1), "signature does not match"),
        # The same instant spelt another way: the hash covers the text, not the instant.
        (lambda r: r["event"].update(created_dt=_respelt(r["event"]["created_dt"])), "time"),
        (lambda r: r["event"].update(created_dt=r["event"]["created_dt"][:26]), "time"),
    ],
    ids=["content-hash", "event", "inclusion", "chain-head", "checkpoint", "respelt", "no-zone"],
)
def test_a_tampered_receipt_is_refused(checkpointed, tamper, says):
    receipt = json.loads(json.dumps(checkpoints.prove(checkpointed["a2"])))
    tamper(receipt)

    with pytest.raises(EvidenceError, match=says):
        evidence.check_receipt(receipt, checkpoints.trusted_fingerprint(), audit_rules.event_hash)


def test_the_cli_proves_a_record_and_checks_the_receipt_with_the_public_key(
    app, runner, checkpointed, tmp_path
):
    public = tmp_path / "audit.pub"
    public.write_text(runner.invoke(args=["audit", "public-key"]).stdout)
    receipt = tmp_path / "receipt.json"

    made = runner.invoke(args=["audit", "prove", str(checkpointed["a1"]), "--out", str(receipt)])
    checked = runner.invoke(
        args=["audit", "check-receipt", str(receipt), "--public-key", str(public)]
    )

    assert made.exit_code == 0, made.output
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith(f"Valid: record {checkpointed['a1']}")
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(evidence.public_key_pem(evidence.Ed25519PrivateKey.generate().public_key()))
    refused = runner.invoke(
        args=["audit", "check-receipt", str(receipt), "--public-key", str(stranger)]
    )
    assert refused.exit_code == 1
    assert "not the trusted one" in refused.output


def test_a_record_not_yet_in_a_checkpoint_has_no_receipt_and_says_when_it_will(runner, history):
    result = runner.invoke(args=["audit", "prove", str(history["a1"])])

    assert result.exit_code == 1
    assert "not in a checkpoint yet: the worker makes one every 15 minutes" in result.output


# --- the worker, the mail, the pages and the exports ---------------------------------------------


def test_the_worker_mails_the_days_last_checkpoint_to_each_compliance_officer_once(app, history):
    yesterday = datetime.now(UTC) - timedelta(days=1)
    checkpoints.make(now=yesterday)
    db.session.commit()

    first = checkpoints.tend()
    again = checkpoints.tend()

    assert first.get("checkpoint_mailed") == 1 and "checkpoint_mailed" not in again
    [message] = db.session.scalars(select(DevMessage)).all()
    assert message.recipient.startswith("compliance")
    assert "flask audit verify --checkpoint FILE" in message.body
    line = message.body.strip().splitlines()[-1]
    assert json.loads(line) == store.read_all(store_path(app))[0]


def test_the_record_page_says_which_checkpoint_holds_it(app, history):
    browser = app.test_client()
    record = db.session.get(TreatmentSession, history["a1"])
    login(browser, record.practitioner, PASSWORD)
    record_id = record.id

    before = browser.get(f"/sessions/{record_id}").get_data(as_text=True)
    checkpoints.make()
    db.session.commit()
    after = browser.get(f"/sessions/{record_id}").get_data(as_text=True)

    assert "Not yet in a signed audit checkpoint" in before
    assert "In signed audit checkpoint 1 of" in after


def test_the_csv_the_bundle_and_the_print_view_carry_the_latest_checkpoint(app, checkpointed):
    from fhir.resources.R4B.bundle import Bundle

    from safety.auth.models import User

    browser = app.test_client()
    login(browser, db.session.get(User, checkpointed["officer"]), PASSWORD)
    latest = checkpoints.latest()

    csv_text = browser.get("/review/records.csv", buffered=True).get_data(as_text=True)
    bundle = browser.get("/fhir/export", buffered=True).get_json()
    printed = browser.get(f"/review/records/{checkpointed['a1']}/print").get_data(as_text=True)

    import csv
    import io

    last = list(csv.reader(io.StringIO(csv_text)))[-1]
    assert last == ["NeedleSafe audit checkpoint", latest.body]
    Bundle.model_validate(bundle)
    [extension] = bundle["meta"]["extension"]
    assert extension["valueString"] == latest.body
    assert f"latest signed audit checkpoint {latest.number}" in printed and latest.root in printed


def test_the_dashboard_shows_a_red_banner_for_a_break_or_a_stale_checkpoint(app, checkpointed):
    from safety.auth.models import User
    from safety.integrity.verify import verify_and_record

    browser = app.test_client()
    login(browser, db.session.get(User, checkpointed["officer"]), PASSWORD)

    calm = browser.get("/review/").get_data(as_text=True)
    checkpoints.make()
    old = datetime.now(UTC) - timedelta(hours=2)
    audit.record("test.long_ago", now=old)  # audited two hours ago, in no checkpoint since
    db.session.commit()
    stale = browser.get("/review/").get_data(as_text=True)
    with guards_off():
        db.session.execute(text("UPDATE audit_events SET action = 'x' WHERE id = 1"))
    verify_and_record()
    db.session.commit()
    broken = browser.get("/review/").get_data(as_text=True)

    assert (
        'id="evidence-alert"' not in calm and "Last signed checkpoint: <strong>1</strong>" in calm
    )
    assert "No signed audit checkpoint holds the events since" in stale
    assert "The audit trail verification found a break." in broken


def test_a_raised_checkpoint_frontier_is_found_and_the_dashboard_goes_stale(app, checkpointed):
    """The insider raised the database's record of what the last checkpoint counted: every
    checkpoint after it was refused with only a log line, verify said intact and the
    dashboard said all was signed, while whatever came next could be rewritten at leisure."""
    from safety.integrity.models import ChainFrontier

    chain = checkpointed["clinic_a"]
    with guards_off():
        db.session.execute(
            text("UPDATE audit_chain_frontiers SET size = :n, peaks = :p WHERE chain_id = :c"),
            {"n": 2**20, "p": json.dumps([[2**20, "00" * 32]]), "c": chain},
        )
    db.session.commit()
    later = datetime.now(UTC) + timedelta(minutes=5)
    audit.record("nothing.happened", object_type="clinics", object_id=chain, clinic_id=chain)
    db.session.commit()

    assert f"the checkpoints signed for clinic:{chain} was altered" in verified()
    with pytest.raises(EvidenceError):
        checkpoints.make(now=later)
    db.session.rollback()
    interval = timedelta(minutes=app.config["AUDIT_CHECKPOINT_MINUTES"])
    health = checkpoints.health(None, now=datetime.now(UTC) + 3 * interval)
    assert health["stale"]
    assert db.session.get(ChainFrontier, chain).size == 2**20
