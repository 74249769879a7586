"""Arbitrary JSON in any part of a valid submission: never a 5xx, never a partial row."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refdesk.api.models import IdempotencyRecord
from refdesk.consent.models import ConsentRecord
from refdesk.intake.models import Referral
from refdesk.testing import make_partner, valid_body

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=6,
)


def _leaves(document, prefix=()):
    if isinstance(document, dict):
        for key, value in document.items():
            yield prefix + (key,)
            yield from _leaves(value, prefix + (key,))


def test_arbitrary_values_anywhere_in_the_body_are_201_or_422_and_atomic(client):
    partner = make_partner("trial-prescreening")
    base = valid_body("trial-prescreening")
    paths = sorted(_leaves(base))
    counter = iter(range(10**6))

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        replacements=st.lists(st.tuples(st.sampled_from(paths), json_values), max_size=3),
        extra_key=st.none()
        | st.tuples(st.sampled_from(["lead", "answers", "consent"]), st.text(max_size=8)),
    )
    def run(replacements, extra_key):
        body = json.loads(json.dumps(base))
        body["lead"]["email"] = f"lead{next(counter)}@example.org"
        for path, value in replacements:
            target = body
            for part in path[:-1]:
                target = target.get(part) if isinstance(target, dict) else None
            if isinstance(target, dict):
                target[path[-1]] = value
        if extra_key and isinstance(body.get(extra_key[0]), dict):
            body[extra_key[0]][extra_key[1]] = "x"
        before = (Referral.objects.count(), ConsentRecord.objects.count())
        response = client.post(
            "/api/v1/referrals",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"k{next(counter)}",
            **partner.auth,
        )
        assert response.status_code in (201, 422), response.content
        after = (Referral.objects.count(), ConsentRecord.objects.count())
        if response.status_code == 422:
            assert after == before
            assert response.json()["errors"]
        else:
            assert after[0] == before[0] + 1
            assert after[1] - before[1] in (0, 1)
        assert IdempotencyRecord.objects.count() == Referral.objects.count()

    run()
