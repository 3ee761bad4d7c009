"""Columns described once per statement and connection on PostgreSQL
(`extensions.DescribedOnceCursor`): the same statement reuses its description, another statement
or other column types get their own, and rows are read as before. SQLite's connections are left
as they are."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import select, text

from safety.auth.models import User
from safety.extensions import DescribedOnceCursor, db


def test_a_statement_is_described_once_and_others_on_their_own(make_user):
    ada = make_user("practitioner", name="Ada Author")
    cora = make_user("compliance", name="Cora Compliance")
    db.session.flush()
    raw = db.session.connection().connection.dbapi_connection

    if isinstance(raw, sqlite3.Connection):
        assert not isinstance(raw.cursor(), DescribedOnceCursor)
        return
    assert isinstance(raw, psycopg.Connection)
    assert isinstance(raw.cursor(), DescribedOnceCursor)
    described = [
        db.session.connection()
        .execute(select(User.id, User.name).where(User.id == user.id))
        .cursor.description
        for user in (ada, cora)
    ]
    assert [column.name for column in described[0]] == ["id", "name"]
    assert described[0] is described[1]  # the same statement: described once
    assert isinstance(described[0], tuple)  # and kept where no caller can change it

    other = db.session.connection().execute(select(User.name, User.id).where(User.id == ada.id))
    assert [column.name for column in other.cursor.description] == ["name", "id"]
    assert other.all() == [("Ada Author", ada.id)]
    # The same text returning other column types is described again.
    number = db.session.connection().execute(text("SELECT :v AS v"), {"v": 1})
    word = db.session.connection().execute(text("SELECT :v AS v"), {"v": "one"})
    assert number.cursor.description[0].type_code != word.cursor.description[0].type_code
    assert (number.scalar(), word.scalar()) == (1, "one")
