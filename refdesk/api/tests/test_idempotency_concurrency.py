"""Two requests with one Idempotency-Key at the same time: one referral, the same answer twice."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from refdesk.api.models import IdempotencyRecord
from refdesk.intake.models import Referral
from refdesk.testing import make_partner, valid_body


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers; the race needs PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_one_referral():
    partner = make_partner("trial-prescreening")
    body = json.dumps(valid_body("trial-prescreening"))
    threads_count = 4
    barrier = threading.Barrier(threads_count)
    results: list = []

    def submit():
        try:
            barrier.wait()
            response = Client().post(
                "/api/v1/referrals",
                data=body,
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="same-key",
                **partner.auth,
            )
            results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _ in results] == [201] * threads_count
    assert len({body["id"] for _, body in results}) == 1
    assert Referral.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
