"""Finding one's way: /login leads to the sign-in page, and one navigation marks where you are."""

from __future__ import annotations

import pytest
from conftest import login


def test_login_at_the_root_leads_to_the_sign_in_page(client):
    response = client.get("/login")

    assert response.status_code == 301
    assert response.headers["Location"] == "/auth/login"
    assert "Log in" in client.get("/auth/login").get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "start"),
    [("practitioner", "/sessions/"), ("compliance", "/review/"), ("admin", "/admin/users")],
)
def test_the_home_page_sends_each_role_to_its_own_start_page(client, make_user, role, start):
    login(client, make_user(role))

    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == start
    assert client.get(start).status_code == 200


def test_the_home_page_sends_a_stranger_to_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"


def test_one_navigation_marks_the_page_and_the_review_area_has_no_second_bar(client, make_user):
    officer = make_user("compliance", name="Cora Compliance")
    login(client, officer)

    records = client.get("/review/records").get_data(as_text=True)

    assert records.count("<nav") == 1
    assert '<a href="/review/records" aria-current="page">Records</a>' in records
    flags_page = client.get("/review/flags").get_data(as_text=True)
    assert '<a href="/review/flags" aria-current="page">Flags</a>' in flags_page
