"""Search by the lead's name: any part of it from its first three letters, in any case, with or
without accents, every word typed must match; posted, never logged; only referrals whose lead
the user sees (a role that sees leads masked finds nothing, exactly as for an unknown name);
a bounded number of queries whatever the table holds."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from refdesk.accounts.choices import Role
from refdesk.audit.models import AuditEvent
from refdesk.desk.views_search import RESULT_LIMIT
from refdesk.intake.models import NameToken
from refdesk.testing import (
    SESSION_WRITE_QUERIES,
    agent,
    auditor,
    education,
    login,
    owner,
    rep,
    staff,
    submit,
    support,
)

pytestmark = pytest.mark.django_db
URL = reverse("desk:search")


def named(n: int, given: str, family: str):
    submission = support(n)
    submission.lead |= {"given_name": given, "family_name": family}
    return submission


def found(response, referral) -> bool:
    return f"/desk/referrals/{referral.public_id}" in response.content.decode()


def result_ids(response) -> list[str]:
    page = response.content.decode()
    return [part.split('"')[0] for part in page.split('href="/desk/referrals/')[1:]]


@pytest.fixture
def leads():
    return {
        "jose": submit("patient-support", named(1, "José", "Moreno")),
        "zoe": submit("patient-support", named(2, "Zoë", "Núñez-García")),
        "joseph": submit("patient-support", named(3, "Joseph", "Morrison")),
        "maria": submit("patient-support", named(4, "Maria", "Josephs")),
    }


def test_an_agent_finds_a_lead_by_part_of_the_name_in_any_case_and_without_accents(client, leads):
    login(client, agent())
    for query in ("jose", "JOSÉ", "José Moreno", "mor", "  jos  "):
        assert found(client.post(URL, {"q": query}), leads["jose"]), query
    for query in ("zoe", "ZOË", "nunez", "garcía", "Núñez-García", "nunezgarcia"):
        assert found(client.post(URL, {"q": query}), leads["zoe"]), query


def test_a_word_matches_only_the_start_of_a_name_word(client, leads):
    login(client, agent())
    page = client.post(URL, {"q": "jos"})
    assert {"jose", "joseph", "maria"} == {
        key for key, referral in leads.items() if found(page, referral)
    }
    assert not found(client.post(URL, {"q": "oreno"}), leads["jose"])  # not a prefix
    assert not found(client.post(URL, {"q": "moreno x"}), leads["jose"])  # "x": too short
    assert not found(client.post(URL, {"q": "morenos"}), leads["jose"])  # longer than the word


def test_every_word_must_match(client, leads):
    login(client, agent())
    page = client.post(URL, {"q": "jos mor"})
    assert found(page, leads["jose"]) and found(page, leads["joseph"])
    assert not found(page, leads["maria"])  # Josephs, but no word starting "mor"
    page = client.post(URL, {"q": "moreno jose"})  # any order
    assert result_ids(page) == [str(leads["jose"].public_id)]
    assert "No referrals found." in client.post(URL, {"q": "zoe moreno"}).content.decode()


def test_results_are_the_newest_first(client):
    now = timezone.now()
    older = submit("patient-support", named(1, "Ana", "Silva"), received_at=now - timedelta(days=2))
    newer = submit("patient-support", named(2, "Ana", "Silvestre"), received_at=now)
    middle = submit("patient-support", named(3, "Anabel", "Silva"), received_at=now - timedelta(1))
    page = login(client, agent()).post(URL, {"q": "ana sil"})
    assert result_ids(page) == [str(r.public_id) for r in (newer, middle, older)]


def test_a_word_shorter_than_three_letters_gets_a_message_and_nothing_is_looked_up(client, leads):
    login(client, agent())
    client.post(URL, {"q": "warm"})  # the session, warmed
    for query in ("jo", "José M", "J. Moreno", "é"):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(URL, {"q": query})
        page = response.content.decode()
        assert "Type at least 3 letters of each part of a name." in page, query
        assert 'role="alert"' in page and not found(response, leads["jose"])
        touched = " ".join(q["sql"] for q in queries.captured_queries)
        assert "intake_nametoken" not in touched and "intake_referral" not in touched


def test_the_page_shows_names_and_human_labels_and_audits_the_patient_names_shown(client, leads):
    user = agent()
    page = login(client, user).post(URL, {"q": "jose moreno"}).content.decode()
    assert "José Moreno" in page and "Patient support" in page.replace("patient-support", "")
    assert "patient-services" not in page  # the queue's name, not its slug
    viewed = AuditEvent.objects.filter(
        action="referral.patient_data_viewed", actor=f"user:{user.username}"
    )
    assert [event.subject_id for event in viewed] == [str(leads["jose"].public_id)]
    assert viewed.get().changes["purpose"]["new"] == "search"


def test_a_name_in_a_link_is_not_searched(client, leads):
    response = login(client, agent()).get(URL, {"q": "moreno"})
    assert not found(response, leads["jose"])
    assert "use the form above" in response.content.decode()


def test_the_name_is_never_logged(client, leads, caplog):
    with caplog.at_level(logging.DEBUG):
        login(client, agent()).post(URL, {"q": "Zoë Núñez"})
    for text in ("Zoë", "Núñez", "zoe", "nunez"):
        assert text not in caplog.text


@pytest.mark.parametrize(
    "persona",
    [
        lambda: owner(),  # supervises patient-services: sees its leads masked
        lambda: auditor(),  # reads everything masked
        lambda: staff("adam.admin", Role.ADMINISTRATOR, "patient-services"),
        lambda: rep(),  # never sees a patient lead at all
    ],
    ids=["owner", "auditor", "administrator", "rep"],
)
def test_a_role_that_may_not_see_the_name_finds_exactly_what_an_unknown_name_finds(
    client, leads, persona
):
    login(client, persona())
    nobody = client.post(URL, {"q": "Quixotic"}).content
    for query in ("José", "Moreno", "jos mor"):
        response = client.post(URL, {"q": query})
        assert not found(response, leads["jose"])
        # Apart from the echoed query, the page is the empty result.
        assert stable(response.content, query) == stable(nobody, "Quixotic")


def stable(content: bytes, query: str) -> bytes:
    """The page without what differs on every response (CSRF token, CSP nonce) or per query."""
    content = re.sub(rb'(name="csrfmiddlewaretoken" value=|nonce=)"[^"]+"', rb"\1", content)
    return content.replace(f'value="{query}"'.encode(), b'value="QUERY"')


def test_a_commercial_rep_finds_the_clinicians_they_work_by_name(client):
    lead = submit("provider-education", education(1, request_type="product_discussion"))
    patient = submit("patient-support", named(2, "Samuel", "Adeyemi"))
    page = login(client, rep()).post(URL, {"q": "sam adey"})
    assert found(page, lead) and not found(page, patient)


def test_at_most_the_limit_with_a_note_to_narrow_down(client):
    referrals = [
        submit("patient-support", named(n, "Lee", "Park")) for n in range(RESULT_LIMIT + 1)
    ]
    page = login(client, agent()).post(URL, {"q": "park"})
    assert len(result_ids(page)) == RESULT_LIMIT
    assert str(referrals[0].public_id) not in result_ids(page)  # the oldest is left out
    assert "Type more of the name to narrow them down." in page.content.decode()


def test_the_results_page_runs_at_most_8_queries(client, django_assert_max_num_queries):
    for n in range(12):
        submit("patient-support", named(n, "Maria", f"Moreno{chr(97 + n)}"))
    login(client, agent())
    client.post(URL, {"q": "warm"})  # the session, warmed
    with django_assert_max_num_queries(8 + SESSION_WRITE_QUERIES):
        page = client.post(URL, {"q": "mar moreno"})
    assert len(result_ids(page)) == 12
    assert NameToken.objects.count() > 12  # the index is there; the page read only it
