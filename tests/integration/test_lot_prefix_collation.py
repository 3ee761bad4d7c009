"""A recall by lot prefix finds every lot, whatever order the database sorts text in.

The prefix trace asks the index for `prefix <= lot < bound`. PostgreSQL databases are often
created with a collation that ignores punctuation when sorting (glibc's en_US.UTF-8); under it
"SJ-" sorts like "SJ" and that range skipped every "SJ-4…" lot. The PostgreSQL run builds such a
database (ICU's `und-u-ka-shifted`, which ignores punctuation the same way) and migrates it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ROOT, scratch_postgres_database
from flask import Flask
from sqlalchemy import select

from config import TestingConfig
from safety import create_app
from safety.extensions import db


@pytest.fixture(scope="module")
def punctuation_blind_url(postgres_url, tmp_path_factory) -> Iterator[str]:
    """A database whose default collation ignores punctuation (SQLite: its usual file)."""
    if not postgres_url:
        yield f"sqlite:///{tmp_path_factory.mktemp('lots') / 'lots.db'}"
        return
    options = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und-u-ka-shifted'"
    with scratch_postgres_database(postgres_url, "lots", options) as url:
        yield url


@pytest.fixture(scope="module")
def seeded_app(punctuation_blind_url) -> Iterator[Flask]:
    """The migrated database with the demo data and 400 generated sessions of five brands,
    built once: the tests only read it."""
    from flask_migrate import upgrade

    settings = {"SQLALCHEMY_DATABASE_URI": punctuation_blind_url}
    config = type("LotsConfig", (TestingConfig,), settings)
    app = create_app(config)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        result = app.test_cli_runner().invoke(args=["demo", "seed", "--sessions", "400"])
        assert result.exit_code == 0, result.output
        yield app
        db.session.remove()
        db.engine.dispose()


def _traced(prefix: str) -> set[int]:
    from safety.auth.models import User
    from safety.review.lots import lot_trace
    from safety.review.rules.lots import LotQuery

    officer = db.session.scalar(select(User).where(User.email == "compliance@example.com"))
    page = lot_trace(officer, LotQuery(prefix, is_prefix=True), page_size=10_000)
    return {row.id for row in page.rows}


def _lots() -> list[tuple[int, str]]:
    """(session id, normalised lot) of every pack each session opened (the demo opens a
    second pack on some days, and types some lots in small letters)."""
    from safety.packs.models import SessionPack

    return db.session.execute(select(SessionPack.session_id, SessionPack.lot_key)).all()


@pytest.mark.parametrize("prefix", ["SJ-", "SJ-4", "AGP-", "sj-"])
def test_a_prefix_with_punctuation_finds_every_lot_that_starts_with_it(seeded_app, prefix):
    lots = _lots()
    expected = {i for i, key in lots if key.startswith(prefix.upper())}
    assert len(expected) > 10, "the generated data should hold lots of this brand"

    assert _traced(prefix) == expected


def test_a_prefix_does_not_match_lots_that_only_differ_by_punctuation(seeded_app):
    lots = _lots()
    assert any(key.startswith("SJ-") for _i, key in lots)

    assert _traced("SJ4") == {i for i, key in lots if key.startswith("SJ4")} == set()
