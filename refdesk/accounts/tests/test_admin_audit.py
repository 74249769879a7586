"""Changes to users in the Django admin are audited in the same transaction as the change: role,
flags, teams (from the user's page and from the team's), groups, a new user, a password set by
an administrator, a deletion, an authenticator removed."""

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group
from django.forms import MultiWidget
from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.accounts.models import TeamMembership, User
from refdesk.accounts.services import team_upsert
from refdesk.accounts.tests.conftest import PASSWORD
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.testing import login_with_mfa

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams(db):
    return {
        slug: team_upsert(slug=slug, name=slug.title(), timezone="UTC", actor="system:test")[0]
        for slug in ("clinical-ops", "patient-services")
    }


@pytest.fixture
def admin_client(client, admin_user):
    login_with_mfa(client, admin_user)
    return client


def change_url(user) -> str:
    return reverse("admin:accounts_user_change", args=[user.pk])


def _form_data(form) -> dict:
    """What a browser would post for ``form`` as rendered (initial values)."""
    data = {}
    for field in form:
        if field.field.disabled:
            continue
        value, widget = field.value(), field.field.widget
        if isinstance(widget, MultiWidget):
            for index, part in enumerate(widget.decompress(value)):
                if part is not None:
                    data[f"{field.html_name}_{index}"] = str(part)
        elif value is True:
            data[field.html_name] = "on"
        elif value is not None and value is not False:  # 0 is a value (formset counts)
            data[field.html_name] = value
    return data


def page_data(client, url: str) -> dict:
    """The admin change page's form and inline forms, as the browser would post them unchanged."""
    response = client.get(url)
    assert response.status_code == 200
    data = _form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(_form_data(formset.management_form))
        for form in formset.forms:
            data.update(_form_data(form))
    return data


def user_events(user, action="user.updated") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, subject_id=str(user.public_id)))


def test_changing_role_flags_and_groups_is_one_audited_change(admin_client, coordinator):
    group = Group.objects.create(name="report readers")
    data = page_data(admin_client, change_url(coordinator))
    data.update(role=Role.MEDICAL_REVIEWER, is_staff="on", is_superuser="on", groups=[group.pk])
    del data["is_active"]  # unticked: deactivated
    response = admin_client.post(change_url(coordinator), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    (event,) = user_events(coordinator)
    assert (event.actor, event.reason) == ("user:ada", "Django admin")
    assert event.changes == {
        "role": {"old": Role.CLINICAL_OPS_COORDINATOR, "new": Role.MEDICAL_REVIEWER},
        "is_active": {"old": True, "new": False},
        "is_staff": {"old": False, "new": True},
        "is_superuser": {"old": False, "new": True},
        "groups": {"old": [], "new": ["report readers"]},
    }
    assert audit_verify().ok


def test_saving_the_page_unchanged_writes_no_event(admin_client, coordinator):
    response = admin_client.post(
        change_url(coordinator), page_data(admin_client, change_url(coordinator))
    )
    assert response.status_code == 302
    assert not user_events(coordinator)


def test_a_team_added_on_the_users_page_is_audited(admin_client, coordinator, teams):
    data = page_data(admin_client, change_url(coordinator))
    data.update(
        {
            "memberships-TOTAL_FORMS": "1",
            "memberships-0-team": str(teams["clinical-ops"].pk),
            "memberships-0-available": "on",
        }
    )
    assert admin_client.post(change_url(coordinator), data).status_code == 302
    (event,) = user_events(coordinator)
    assert event.changes == {"teams": {"old": [], "new": ["clinical-ops"]}}


def test_members_changed_on_the_teams_page_are_audited_on_each_user(
    admin_client, coordinator, teams
):
    team = teams["clinical-ops"]
    other = User.objects.create_user("dina", role=Role.CLINICAL_OPS_COORDINATOR)
    for user in (coordinator, other):
        TeamMembership.objects.create(team=team, user=user)
    TeamMembership.objects.create(team=teams["patient-services"], user=other)
    url = reverse("admin:accounts_team_change", args=[team.pk])
    data = page_data(admin_client, url)
    rows = {data[f"memberships-{i}-user"]: i for i in range(2)}
    away, removed = rows[coordinator.pk], rows[other.pk]
    del data[f"memberships-{away}-available"]  # carl is away
    data[f"memberships-{removed}-DELETE"] = "on"  # dina leaves the team
    assert admin_client.post(url, data).status_code == 302
    (carl,) = user_events(coordinator)
    assert carl.changes == {"teams": {"old": ["clinical-ops"], "new": ["clinical-ops (away)"]}}
    (dina,) = user_events(other)
    assert dina.changes == {
        "teams": {"old": ["clinical-ops", "patient-services"], "new": ["patient-services"]}
    }


def test_a_user_added_in_the_admin_is_audited_with_role_teams_and_without_password(
    admin_client, teams
):
    url = reverse("admin:accounts_user_add")
    data = page_data(admin_client, url)
    data.update(
        {
            "username": "newbie",
            "email": "newbie@example.org",
            "role": Role.PATIENT_SERVICES_AGENT,
            "usable_password": "true",
            "password1": "a fresh long passphrase",
            "password2": "a fresh long passphrase",
            "memberships-TOTAL_FORMS": "1",
            "memberships-0-team": str(teams["patient-services"].pk),
            "memberships-0-available": "on",
        }
    )
    assert admin_client.post(url, data).status_code == 302
    user = User.objects.get(username="newbie")
    (event,) = user_events(user, "user.created")
    assert event.actor == "user:ada"
    assert event.changes["role"] == {"old": None, "new": Role.PATIENT_SERVICES_AGENT}
    assert event.changes["email"]["new"] == "newbie@example.org"
    assert event.changes["is_active"]["new"] is True
    assert event.changes["password"]["new"] == "usable"
    assert event.changes["teams"]["new"] == ["patient-services"]
    assert "fresh long passphrase" not in str(event.changes) and "md5$" not in str(event.changes)


def test_a_password_set_by_an_administrator_is_audited_without_it(admin_client, coordinator):
    url = reverse("admin:auth_user_password_change", args=[coordinator.pk])
    response = admin_client.post(
        url,
        {
            "usable_password": "true",
            "password1": "reset by admin 42x",
            "password2": "reset by admin 42x",
        },
    )
    assert response.status_code == 302
    (event,) = user_events(coordinator, "auth.password_changed")
    assert event.actor == "user:ada"
    assert event.changes["how"]["new"] == "set_by_administrator"
    assert "reset by admin" not in str(event.changes)
    coordinator.refresh_from_db()
    assert coordinator.check_password("reset by admin 42x")


def test_deleting_a_user_in_the_admin_is_audited(admin_client, coordinator):
    public_id = coordinator.public_id
    url = reverse("admin:accounts_user_delete", args=[coordinator.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=coordinator.pk).exists()
    event = AuditEvent.objects.get(action="user.deleted", subject_id=str(public_id))
    assert event.changes["role"] == {"old": Role.CLINICAL_OPS_COORDINATOR, "new": None}


def test_removing_someones_authenticator_in_the_admin_is_audited(admin_client, coordinator):
    login_with_mfa(admin_client, coordinator)  # gives carl an authenticator
    authenticator = Authenticator.objects.get(user=coordinator)
    secret = authenticator.data["secret"]
    admin_client.logout()
    login_with_mfa(admin_client, User.objects.get(username="ada"))
    url = reverse("admin:mfa_authenticator_delete", args=[authenticator.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    (event,) = user_events(coordinator, "user.mfa_removed")
    assert (event.actor, event.changes) == (
        "user:ada",
        {"authenticator": {"old": None, "new": "totp"}},
    )
    assert secret not in str(event.changes)


def test_the_change_and_its_audit_event_commit_together(admin_client, coordinator, monkeypatch):
    """If the event cannot be written, the change is not saved either."""

    def broken(**kwargs):
        raise RuntimeError("audit trail unavailable")

    monkeypatch.setattr("refdesk.accounts.services.audit_record", broken)
    data = page_data(admin_client, change_url(coordinator))
    data["role"] = Role.ADMINISTRATOR
    data["is_superuser"] = "on"
    with pytest.raises(RuntimeError):
        admin_client.post(change_url(coordinator), data)
    coordinator.refresh_from_db()
    assert (coordinator.role, coordinator.is_superuser) == (Role.CLINICAL_OPS_COORDINATOR, False)


def test_the_admin_login_still_needs_the_second_factor(client, admin_user):
    """Unchanged by this: the admin's pages are reached only through allauth's MFA login."""
    response = client.post("/admin/login/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
