"""Fixtures for the API tests; the partners and bodies themselves are in refdesk.testing."""

from __future__ import annotations

import pytest

from refdesk.testing import Partner, make_partner


@pytest.fixture
def partner(db) -> Partner:
    return make_partner("trial-prescreening")
