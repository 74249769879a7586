"""Shared test setup. Personas and builders live in refdesk/testing.py."""

import pytest


@pytest.fixture(autouse=True)
def _no_request_id_leak():
    """Each test starts without a request id in context."""
    from refdesk.core.context import reset_request_id, set_request_id

    token = set_request_id(None)
    yield
    reset_request_id(token)
