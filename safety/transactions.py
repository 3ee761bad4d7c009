"""How a request's transaction ends when the request did not end it: a read commits.

psycopg forgets every statement it has prepared on a connection whenever that connection
rolls a transaction back (it cannot tell which ones the server still holds), and
Flask-SQLAlchemy ends each request by closing its session, which rolls back whatever is
still open. So every page that only reads ended with ROLLBACK, and PostgreSQL planned each
of its statements afresh on every request: for a 5-table join, 1.6 ms of the server's CPU
to run 0.1 ms of work. A transaction that only ran SELECTs changed nothing, so committing it
is the same as rolling it back, except that the connection keeps its prepared statements.
On a signed session's 13 requests this took PostgreSQL's CPU from 48 to 30 ms (issue 20).

Anything else still rolls back as before: a request that raised, a session holding changes it
has not flushed, or a transaction that sent any statement but a SELECT (an INSERT, an UPDATE,
a DELETE, a SET, anything a use case wrote and did not commit). Which statements a
transaction sent is kept on its connection, and forgotten when the next one begins.
"""

from __future__ import annotations

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

#: Set in a connection's info while its transaction has sent a statement that is no SELECT.
WROTE = "needlesafe_transaction_wrote"


def is_read(statement: str) -> bool:
    """True for a statement that only reads: a SELECT (the application's reads are all plain
    SELECTs of columns and aggregates; none calls a function that writes)."""
    return statement.lstrip()[:6].upper() == "SELECT"


@event.listens_for(Engine, "begin")
def _forget_writes(connection: Connection) -> None:
    connection.info.pop(WROTE, None)


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(connection, _cursor, statement, _parameters, context, _many) -> None:
    writes = context is not None and (context.isinsert or context.isupdate or context.isdelete)
    if writes or not is_read(statement):
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
        if not session.in_transaction():
            return
        if session.new or session.dirty or session.deleted:
            return
        if session.connection().info.get(WROTE):
            return
        # Nothing was written, so nothing needs reloading: the objects keep what they hold,
        # as a rollback would leave them, for code that reads them after the context ends.
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()
        except SQLAlchemyError:
            session.rollback()
        finally:
            session.expire_on_commit = expire
