"""Invitations over a real SMTP server (aiosmtpd on localhost): the e-mail arrives with a link
that lets the person choose their password; a mail server that is down leaves the account
waiting and tells the administrator, who sends a new link once it is back."""

from __future__ import annotations

import html
import re
from urllib.parse import urlparse

import pytest
from aiosmtpd.controller import Controller
from conftest import login, post_form
from smtp_capture import Collector, free_port, send_mail_to
from sqlalchemy import select

from safety.auth.models import User
from safety.extensions import db

PASSWORD_CHOSEN = "harbour-lantern-meadow-31"


class MailServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = Collector()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail_server(request, app) -> MailServer:
    server = MailServer(free_port())
    request.addfinalizer(server.stop)
    send_mail_to(app, server.port)
    return server


@pytest.fixture
def admin_client(app, make_user):
    client = app.test_client()
    assert login(client, make_user("admin", email="ada@office.test")).status_code == 302
    return client


def invite(admin_client, email: str = "nina@clinic.test"):
    return post_form(
        admin_client,
        "/admin/users/new",
        {"email": email, "name": "Nina Needle", "role": "compliance", "clinic": ""},
    )


def link_in(message) -> str:
    body = message.get_content()
    return urlparse(re.search(r"http://\S+/auth/invitation/[A-Za-z0-9_-]+", body).group(0)).path


def test_the_invitation_arrives_by_email_and_its_link_sets_the_password(
    app, mail_server, admin_client
):
    mail_server.start()

    response = invite(admin_client)

    assert response.status_code == 302
    [message] = mail_server.handler.messages()
    assert message["To"] == "nina@clinic.test"
    assert message["Subject"] == "Your NeedleSafe invitation"
    assert "as a compliance officer" in message.get_content()
    assert "72 hours" in message.get_content()
    newcomer = app.test_client()
    link = link_in(message)
    assert post_form(newcomer, link, {"password": PASSWORD_CHOSEN}).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "nina@clinic.test"))
    assert login(newcomer, user, PASSWORD_CHOSEN).status_code == 302


def test_a_mail_server_that_is_down_is_said_and_a_new_link_can_be_sent_later(
    app, mail_server, admin_client
):
    response = invite(admin_client)

    page = html.unescape(admin_client.get(response.headers["Location"]).get_data(as_text=True))
    assert "could not be sent" in page
    assert "Send a new invitation" in page
    user_id = db.session.scalar(select(User.id).where(User.email == "nina@clinic.test"))

    mail_server.start()
    again = post_form(admin_client, f"/admin/users/{user_id}/invite")

    assert again.status_code == 302
    [message] = mail_server.handler.messages()
    assert app.test_client().get(link_in(message)).status_code == 200


def test_an_invitation_in_spanish_arrives_in_spanish_and_the_newcomer_reads_spanish(
    app, mail_server, admin_client
):
    mail_server.start()

    response = post_form(
        admin_client,
        "/admin/users/new",
        {
            "email": "lucia@clinic.test",
            "name": "Lucía Romero",
            "role": "compliance",
            "clinic": "",
            "language": "es",
        },
    )

    assert response.status_code == 302
    [message] = mail_server.handler.messages()
    assert message["Subject"] == "Su invitación a NeedleSafe"
    body = message.get_content()
    assert body.startswith("Hola, Lucía Romero:")
    assert "como responsable de cumplimiento." in body
    assert "durante 72 horas" in body
    user = db.session.scalar(select(User).where(User.email == "lucia@clinic.test"))
    assert user.language == "es"
    newcomer = app.test_client()
    page = newcomer.get(link_in(message)).get_data(as_text=True)
    assert "Bienvenido/a, Lucía Romero" in page
