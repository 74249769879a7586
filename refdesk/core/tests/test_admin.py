"""The admin shows configuration and the audit trail; versions and audit events are read-only."""

import pytest
from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.accounts.services import user_create
from refdesk.audit.models import AuditEvent
from refdesk.programs.models import ProgramVersion
from refdesk.testing import make_referrer

pytestmark = pytest.mark.django_db

PAGES = [
    "programs_program",
    "programs_programversion",
    "accounts_team",
    "routing_queue",
    "referrers_source",
    "referrers_referrer",
    "audit_auditevent",
    "accounts_user",
]


@pytest.fixture
def admin_client(client):
    make_referrer("trial-prescreening", "study-coordinator")
    user = user_create(
        username="root",
        email="root@example.org",
        role=Role.ADMINISTRATOR,
        password="a long admin password",
        actor="system:test",
    )
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_every_admin_list_and_first_object_renders(admin_client, page):
    response = admin_client.get(reverse(f"admin:{page}_changelist"))
    assert response.status_code == 200
    model = response.context["cl"].model
    first = model.objects.first()
    detail = admin_client.get(reverse(f"admin:{page}_change", args=[first.pk]))
    assert detail.status_code == 200


def test_program_versions_and_audit_events_cannot_be_edited_or_deleted(admin_client):
    version = ProgramVersion.objects.first()
    event = AuditEvent.objects.first()
    for page, obj in (("programs_programversion", version), ("audit_auditevent", event)):
        change = reverse(f"admin:{page}_change", args=[obj.pk])
        response = admin_client.post(change, {"note": "rewritten", "reason": "rewritten"})
        assert response.status_code == 403
        delete = reverse(f"admin:{page}_delete", args=[obj.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
        assert admin_client.get(reverse(f"admin:{page}_add")).status_code == 403
    version.refresh_from_db()
    assert version.note != "rewritten"
