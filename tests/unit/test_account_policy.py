"""Administrators keep their own account: they cannot deactivate it or give up their own
administrator role by a slip (another administrator can do both), and the user's page asks
the same predicates the services refuse by."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from safety.auth import policy
from safety.auth.models import Role

ADMIN = SimpleNamespace(id=1, role=Role.ADMIN, clinic_id=None)
OTHER_ADMIN = SimpleNamespace(id=2, role=Role.ADMIN, clinic_id=None)
PRACTITIONER = SimpleNamespace(id=3, role=Role.PRACTITIONER, clinic_id=7)


def test_an_administrator_cannot_deactivate_their_own_account():
    assert policy.is_own_account(ADMIN, ADMIN)
    assert not policy.can_deactivate(ADMIN, ADMIN)


def test_an_administrator_deactivates_anyone_else():
    assert not policy.is_own_account(ADMIN, OTHER_ADMIN)
    assert policy.can_deactivate(ADMIN, OTHER_ADMIN)
    assert policy.can_deactivate(ADMIN, PRACTITIONER)


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.COMPLIANCE])
def test_an_administrator_cannot_give_up_their_own_administrator_role(role):
    assert not policy.can_change_role_to(ADMIN, ADMIN, role)
    assert policy.can_change_role_to(ADMIN, ADMIN, Role.ADMIN)
    assert policy.can_change_role_to(OTHER_ADMIN, ADMIN, role)


def test_nobody_signed_in_owns_no_account():
    assert not policy.is_own_account(None, ADMIN)
