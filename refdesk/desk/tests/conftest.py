"""Fixtures of the desk's list-page tests (helpers in lists.py)."""

import pytest

from refdesk.accounts.models import TeamMembership
from refdesk.desk.tests.lists import NOW
from refdesk.testing import make_personas


@pytest.fixture
def people():
    personas = make_personas()
    # Nobody available: submitted referrals wait unassigned, so claims and filters are ours.
    TeamMembership.objects.update(available=False)
    return personas


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
