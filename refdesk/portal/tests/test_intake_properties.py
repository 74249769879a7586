"""Arbitrary form data thrown at /r/<code>: never a server error, never a partial row, never XSS."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from refdesk.consent.models import ConsentRecord
from refdesk.intake.models import Referral
from refdesk.portal.tests.test_intake_pages import trial_form_data
from refdesk.testing import make_referrer

pytestmark = pytest.mark.django_db

FIELDS = list(trial_form_data()) + [
    "therapy_area",
    "lead_npi",
    "lead_language",
    "answer_ecog_pending",
    "answer_diagnosis_confirmed_pending",
    "website",
    "utm_medium",
    "utm_content",
    "utm_term",
]

# Surrogates cannot be sent in a UTF-8 body at all, so a browser never sends them.
text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)
huge = st.builds(
    lambda char, size: char * size, st.sampled_from("a7é\u202e<\x00"), st.integers(1, 60_000)
)
scalar = st.one_of(
    text,
    huge,
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["", "on", "yes", "no", "true", "RDX-301", "records_requested", "2026-01"]),
)
value = st.one_of(scalar, st.lists(scalar, max_size=3))
mutations = st.dictionaries(st.one_of(st.sampled_from(FIELDS), text), st.one_of(value, st.none()))


@pytest.fixture
def coordinator(settings):
    # Rate limits are tested elsewhere; here they would only cut the run short.
    settings.REFDESK_RATE_LIMITS = {"intake.address": (10**9, 60), "intake.code": (10**9, 60)}
    cache.clear()
    return make_referrer("trial-prescreening", "study-coordinator")


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=mutations, start_valid=st.booleans())
def test_arbitrary_form_data_never_errors_and_never_leaves_a_partial_row(
    client, coordinator, changes, start_valid
):
    data = trial_form_data() if start_valid else {}
    for key, new in changes.items():
        if new is None:
            data.pop(key, None)
        else:
            data[key] = new
    referrals, consents = Referral.objects.count(), ConsentRecord.objects.count()
    response = client.post(f"/r/{coordinator.code}", data)
    assert response.status_code < 500
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: both paths taken
    if response.status_code == 302:
        assert "/thanks/" in response["Location"]
        assert Referral.objects.count() == referrals + 1
        newest = Referral.objects.order_by("-id").first()
        assert ConsentRecord.objects.filter(referral=newest).count() == 1
        assert ConsentRecord.objects.count() == consents + 1
    else:
        assert response.status_code in (200, 400)
        assert Referral.objects.count() == referrals
        assert ConsentRecord.objects.count() == consents


def test_a_script_in_a_text_answer_is_never_rendered_unescaped(client, coordinator):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    # A form error elsewhere makes the page render the typed-in values back.
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(
            lead_given_name=payload, lead_family_name=payload, lead_email="bad", answer_age=payload
        ),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
