"""How a request's transaction ends when the request did not end it: a read commits.

psycopg forgets every statement it has prepared on a connection whenever that connection
rolls a transaction back (it cannot tell which ones the server still holds), and
Flask-SQLAlchemy ends each request by closing its session, which rolls back whatever is
still open. So every page that only reads ended with ROLLBACK, and PostgreSQL planned each
of its statements afresh on every request: for a 5-table join, 1.6 ms of the server's CPU
to run 0.1 ms of work. A transaction that only ran SELECTs changed nothing, so committing it
is the same as rolling it back, except that the connection keeps its prepared statements.
On a signed session's 13 requests this took PostgreSQL's CPU from about 51 to 31 ms (issue 20).

Anything else still rolls back as before: a request that raised, a session holding changes it
has not flushed, or a transaction that sent any statement but a SELECT (an INSERT, an UPDATE,
a DELETE, a SET, anything a use case wrote and did not commit). Which statements a
transaction sent is kept on its connection, and forgotten when the next one begins. The
commit itself may send nothing but a SELECT either: audit events recorded and not committed
(a use case refused after recording one) are appended only at commit, by a listener, so a
write during this commit stops it and the transaction is rolled back instead. Nothing here
may fail a request that has already been answered: whatever goes wrong ends in a rollback.

The application's reads are plain SELECTs of columns and aggregates; a SELECT whose effect
differs between COMMIT and ROLLBACK (`set_config(..., false)`, `pg_notify`, a function that
writes) would need this module's test of a read to know it.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

#: Set in a connection's info while its transaction has sent a statement that is no SELECT.
WROTE = "needlesafe_transaction_wrote"
#: Set in a connection's info while `commit_reads` commits on it: no write may pass.
COMMITTING_A_READ = "needlesafe_committing_a_read"

log = logging.getLogger(__name__)


class WriteWhileCommittingARead(Exception):
    """A statement that writes, sent while a transaction that only read was being committed."""


def is_read(statement: str) -> bool:
    """True for a statement that only reads: a SELECT (the application's reads are all plain
    SELECTs of columns and aggregates; none calls a function that writes)."""
    return statement.lstrip()[:6].upper() == "SELECT"


@event.listens_for(Engine, "begin")
def _forget_writes(connection: Connection) -> None:
    connection.info.pop(WROTE, None)


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(connection, _cursor, statement, _parameters, _context, _many) -> None:
    # An INSERT, UPDATE or DELETE never starts with SELECT (a data-modifying WITH starts with
    # WITH), so the statement's text alone tells.
    if not is_read(statement):
        if connection.info.get(COMMITTING_A_READ):
            raise WriteWhileCommittingARead(statement.lstrip()[:40])
        connection.info[WROTE] = True


def commit_reads(app: Flask, db: SQLAlchemy) -> None:
    """Commit, at the end of each app context, a transaction that only read.

    Registered after `db.init_app`, so it runs before Flask-SQLAlchemy removes the session
    (teardown functions run in reverse order).
    """

    @app.teardown_appcontext
    def _commit_if_only_read(exc: BaseException | None) -> None:
        if exc is not None or not db.session.registry.has():
            return
        session = db.session()
        if not session.in_transaction() or session.new or session.dirty or session.deleted:
            return
        try:
            # The connection's own table, kept: once committed, the session closes the
            # connection, whose `info` can no longer be read to take the mark off.
            info = session.connection().info
            if info.get(WROTE):
                return
            # Nothing was written, so nothing needs reloading: the objects keep what they
            # hold, as a rollback would leave them, for code that reads them afterwards.
            expire, session.expire_on_commit = session.expire_on_commit, False
            info[COMMITTING_A_READ] = True
            try:
                session.commit()
            finally:
                info.pop(COMMITTING_A_READ, None)
                session.expire_on_commit = expire
        except Exception as failure:  # the request is answered: roll back, never fail it
            # Only the kind of failure: a database error's text can carry a row's values.
            log.info("a transaction that read was rolled back: %s", type(failure).__name__)
            try:
                session.rollback()
            except Exception as again:
                log.warning("rolling back a transaction that read failed: %s", type(again).__name__)
