"""Search: reference and referrer code for all staff; lead email or phone (blind index) only for
roles that see patient data, posted so it never lands in a URL; results only what the user may
see."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from refdesk.testing import agent, coordinator, education, login, rep, submit, support, trial

pytestmark = pytest.mark.django_db
URL = reverse("desk:search")


def support_with_email(n: int, email: str):
    submission = support(n)
    submission.lead["email"] = email
    return submission


def found(response, referral) -> bool:
    # The result row links to the referral page (the query itself is echoed in the form).
    return f"/desk/referrals/{referral.public_id}" in response.content.decode()


def test_staff_find_a_referral_by_its_reference_typed_loosely(client):
    referral = submit("trial-prescreening", trial(1))
    loose = referral.reference.lower().replace("-", " ").replace("0", "o")
    response = login(client, coordinator()).post(URL, {"q": loose})
    assert found(response, referral)


def test_a_reference_can_also_be_searched_from_a_link(client):
    referral = submit("trial-prescreening", trial(1))
    response = login(client, coordinator()).get(URL, {"q": referral.reference})
    assert found(response, referral)


def test_staff_find_referrals_by_referrer_code(client):
    first = submit("trial-prescreening", trial(1))
    second = submit("trial-prescreening", trial(2))
    response = login(client, coordinator()).post(URL, {"q": first.referrer.code})
    assert found(response, first) and found(response, second)


def test_an_agent_finds_their_lead_by_email_and_by_phone(client):
    referral = submit("patient-support", support_with_email(1, "Alex.Moreno@Example.org"))
    user = agent()
    assert found(login(client, user).post(URL, {"q": " alex.moreno@example.org "}), referral)
    assert found(client.post(URL, {"q": "+1 212 555 0101"}), referral)


def test_a_commercial_rep_searching_by_email_gets_no_results(client):
    referral = submit("provider-education", education(1, request_type="product_discussion"))
    assert referral.queue.slug == "commercial"
    user = rep()
    login(client, user)
    assert found(client.post(URL, {"q": referral.reference}), referral)  # may see it
    response = client.post(URL, {"q": "clinician1@example-clinic.org"})
    assert not found(response, referral)
    assert "No referrals found." in response.content.decode()


def test_an_email_in_a_link_is_not_searched(client):
    referral = submit("patient-support", support_with_email(1, "alex@example.org"))
    response = login(client, agent()).get(URL, {"q": "alex@example.org"})
    assert not found(response, referral)
    assert "use the form above" in response.content.decode()


def test_the_search_form_posts(client):
    page = login(client, agent()).get(URL).content.decode()
    assert 'method="post"' in page and "csrfmiddlewaretoken" in page


def test_results_are_only_referrals_the_user_may_see(client):
    theirs = submit("trial-prescreening", trial(1))
    response = login(client, agent()).post(URL, {"q": theirs.reference})
    assert not found(response, theirs)
    response = client.post(URL, {"q": "patient1@example.org"})
    assert not found(response, theirs)


def test_the_query_is_never_logged(client, caplog):
    submit("patient-support", support_with_email(1, "secret.person@example.org"))
    with caplog.at_level(logging.DEBUG):
        login(client, agent()).post(URL, {"q": "secret.person@example.org"})
    assert "secret.person" not in caplog.text
