"""8 simultaneous wrong passwords for one login name: exactly 5 are checked, 3 refused."""

import threading

import pytest
from allauth.account.adapter import get_adapter
from allauth.core import context
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test import RequestFactory

from refdesk.accounts.choices import Role
from refdesk.accounts.services import user_create
from refdesk.audit.models import AuditEvent

LOGIN = "/accounts/login/"
WRONG = "Tr0ub4dor&3-not-it"


@pytest.fixture
def committed_db(transactional_db):
    """A transactional test: what it writes is committed, so other connections see it."""


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="threads need real commits: transactional tests run on PostgreSQL",
)
def test_eight_simultaneous_wrong_passwords_for_one_name_get_exactly_five_checks(committed_db):
    user_create(
        username="carl",
        email="carl@example.org",
        role=Role.CLINICAL_OPS_COORDINATOR,
        password="correct horse battery staple",
        actor="system:test",
    )
    attempts = 8
    barrier = threading.Barrier(attempts, timeout=60)
    checked: list[bool] = []
    refused: list[str] = []

    def attempt():
        try:
            request = RequestFactory().post(LOGIN)
            request.user = AnonymousUser()
            with context.request_context(request):
                connection.ensure_connection()
                barrier.wait()
                try:
                    user = get_adapter(request).authenticate(
                        request, username="carl", password=WRONG
                    )
                    checked.append(user is None)
                except ValidationError as error:
                    refused.append(error.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert checked == [True] * 5
    assert refused == ["too_many_login_attempts"] * 3
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 5
