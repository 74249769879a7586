"""The auditor's view of the trail in the console: search by subject, actor, action and period
(each narrows, pages sought by seq show each event once), a referral's full history with who
viewed it, the signed export, the verification page, who may see any of it (everyone else:
404), and that no patient value reaches any of these pages or the export."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.audit.extract import audit_extract_check
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_record
from refdesk.core.references import check_character
from refdesk.testing import (
    SESSION_WRITE_QUERIES,
    agent,
    auditor,
    coordinator,
    detail_url,
    login,
    owner,
    staff,
    submit,
    support_by_email,
    trial,
    without_ids,
)

pytestmark = pytest.mark.django_db

SEARCH = reverse("desk:audit_search")
# A well-formed reference (its check character right) that no referral has.
UNUSED_REFERENCE = f"RF-7K3Q-9M2{check_character('7K3Q9M2')}"
EXPORT = reverse("desk:audit_export")


def text(response) -> str:
    return response.content.decode()


def seqs(response) -> list[int]:
    """The seq column of the listed events, top to bottom."""
    return [int(n) for n in re.findall(r'<th scope="row" class="num">(\d+)</th>', text(response))]


def made(n: int, *, actor="user:hand", action="handmade.thing", subject=("thing", "t1")):
    return [audit_record(actor=actor, action=action, subject=subject) for _ in range(n)]


@pytest.fixture
def ines(client):
    user = auditor()
    login(client, user)
    return user


# --- search ------------------------------------------------------------------------------------


class TestFilters:
    def test_each_filter_narrows_to_its_events(self, client, ines):
        subject_a = made(2, subject=("thing", "alpha"))
        by_other = made(1, actor="user:other", subject=("thing", "beta"))
        other_type = made(1, subject=("widget", "alpha"))
        other_action = made(1, action="handmade.other", subject=("thing", "beta"))
        ids = lambda events: sorted((e.seq for e in events), reverse=True)  # noqa: E731
        assert seqs(client.get(SEARCH, {"subject_type": "thing", "subject": "alpha"})) == ids(
            subject_a
        )
        # The id alone finds it under any type.
        assert seqs(client.get(SEARCH, {"subject": "alpha"})) == ids(subject_a + other_type)
        assert seqs(client.get(SEARCH, {"actor": "user:other"})) == ids(by_other)
        # A bare name is a staff user's label.
        assert seqs(client.get(SEARCH, {"actor": "other"})) == ids(by_other)
        assert seqs(client.get(SEARCH, {"action": "handmade.other"})) == ids(other_action)
        # A prefix ending in "." takes every action under it.
        everything = subject_a + by_other + other_type + other_action
        assert seqs(client.get(SEARCH, {"action": "handmade."})) == ids(everything)
        assert seqs(
            client.get(SEARCH, {"action": "handmade.", "actor": "hand", "subject": "beta"})
        ) == ids(other_action)

    def test_a_reference_finds_the_referrals_events(self, client, ines):
        referral = submit("trial-prescreening", trial(1))
        page = client.get(SEARCH, {"subject": referral.reference.lower()})
        expected = AuditEvent.objects.filter(
            subject_type="referral", subject_id=str(referral.public_id)
        ).order_by("-seq")
        assert seqs(page) == [e.seq for e in expected] and expected
        assert f'value="{referral.reference}"' in text(page)  # written back canonically
        history = reverse("desk:audit_referral", kwargs={"reference": referral.reference})
        assert history in text(page)

    def test_the_period_is_whole_days_in_the_viewers_zone(self, client, ines, time_machine):
        ines.timezone = "Asia/Tokyo"  # UTC+9, no daylight saving
        ines.save(update_fields=["timezone"])
        # 2026-03-01 14:59 UTC is 23:59 on the 1st in Tokyo; 15:00 UTC is 00:00 on the 2nd.
        time_machine.move_to(dt.datetime(2026, 3, 1, 14, 59, tzinfo=dt.UTC), tick=False)
        (first,) = made(1, action="handmade.period")
        time_machine.move_to(dt.datetime(2026, 3, 1, 15, 0, tzinfo=dt.UTC), tick=False)
        (second,) = made(1, action="handmade.period")
        time_machine.move_to(dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC), tick=False)
        (third,) = made(1, action="handmade.period")

        def listed(**period):
            return seqs(client.get(SEARCH, {"action": "handmade.period", **period}))

        assert listed(**{"from": "2026-03-01", "to": "2026-03-01"}) == [first.seq]
        assert listed(**{"from": "2026-03-02", "to": "2026-03-02"}) == [second.seq]
        assert listed(**{"from": "2026-03-02"}) == [third.seq, second.seq]
        assert listed(to="2026-03-02") == [second.seq, first.seq]
        assert "Dates and times are in Asia/Tokyo" in text(client.get(SEARCH))

    def test_the_menus_list_the_actions_and_subject_types_present(self, client, ines):
        made(1, action="zzmenu.first", subject=("zzkind", "1"))
        page = text(client.get(SEARCH))
        assert '<optgroup label="zzmenu">' in page
        assert '<option value="zzmenu.">every zzmenu. event</option>' in page
        assert '<option value="zzmenu.first">zzmenu.first</option>' in page
        assert '<option value="zzkind">zzkind</option>' in page

    @pytest.mark.parametrize(
        "params, field, message",
        [
            ({"from": "yesterday"}, "audit-from", "Write the date like 2026-12-07."),
            ({"to": "2026-02-30"}, "audit-to", "Write the date like 2026-12-07."),
            (
                {"from": "2026-03-02", "to": "2026-03-01"},
                "audit-to",
                "The period must end on or after the day it starts.",
            ),
            ({"action": "<b>"}, "audit-action", "Choose an action from the list."),
            ({"subject": "RF-0000-000"}, "audit-subject", "A referral reference looks like"),
            ({"subject": UNUSED_REFERENCE}, "audit-subject", "No referral has the reference"),
            ({"before": "x1"}, "", "That page link is broken"),
        ],
    )
    def test_a_filter_it_cannot_read_is_a_400_naming_the_field(
        self, client, ines, params, field, message
    ):
        response = client.get(SEARCH, params)
        assert response.status_code == 400
        page = text(response)
        assert "There is a problem" in page and message in page
        assert f'href="#{field}"' in page
        assert "<title>Error: " in page


class TestPages:
    def test_pages_sought_by_seq_show_each_event_once_newest_first(self, client, ines):
        events = made(120, action="handmade.paged")
        seen, url, pages = [], f"{SEARCH}?action=handmade.paged", 0
        while url:
            response = client.get(url)
            seen += seqs(response)
            pages += 1
            older = re.search(r'href="([^"]*before=\d+)">Older events', text(response))
            url = SEARCH + older.group(1).replace("&amp;", "&") if older else None
        assert pages == 3
        assert seen == sorted((e.seq for e in events), reverse=True)
        # And back: "Newer events" from the last page walks the same events the other way.
        back = []
        url = f"{SEARCH}?action=handmade.paged&before={events[20].seq}"
        while url:
            response = client.get(url)
            back = seqs(response) + back
            newer = re.search(r'href="([^"]*after=\d+)">Newer events', text(response))
            url = SEARCH + newer.group(1).replace("&amp;", "&") if newer else None
        assert back == sorted((e.seq for e in events), reverse=True)

    def test_no_offset_and_no_count_over_the_trail(
        self, client, ines, django_assert_max_num_queries
    ):
        made(3, action="handmade.few")
        with django_assert_max_num_queries(99) as queries:
            client.get(SEARCH, {"action": "handmade.few", "before": "999999"})
        sql = " ".join(q["sql"].upper() for q in queries.captured_queries)
        assert "OFFSET" not in sql and "COUNT(" not in sql

    def test_the_page_runs_a_fixed_number_of_queries(
        self, client, ines, django_assert_max_num_queries
    ):
        referral = submit("trial-prescreening", trial(2))
        client.get(SEARCH)
        with django_assert_max_num_queries(8 + SESSION_WRITE_QUERIES) as few:
            assert client.get(SEARCH).status_code == 200
        for n in range(3, 6):
            submit("trial-prescreening", trial(n))
        made(60, action="handmade.more")
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert client.get(SEARCH).status_code == 200
        with django_assert_max_num_queries(len(few.captured_queries) + 1):  # the reference
            assert client.get(SEARCH, {"subject": referral.reference}).status_code == 200


# --- a referral's history ----------------------------------------------------------------------


def history_url(referral) -> str:
    return reverse("desk:audit_referral", kwargs={"reference": referral.reference})


class TestHistory:
    def test_it_lists_every_event_of_the_referral_and_who_viewed_it(self, client, ines):
        referral = submit("patient-support", support_by_email(7))
        paula = agent()
        login(client, paula)
        assert client.get(detail_url(referral)).status_code == 200  # a read of patient data
        login(client, ines)
        response = client.get(history_url(referral))
        page = text(response)
        events = AuditEvent.objects.filter(
            subject_type="referral", subject_id=str(referral.public_id)
        ).order_by("-seq")
        assert seqs(response) == [e.seq for e in events]
        actions = {e.action for e in events}
        assert {"referral.submitted", "consent.recorded", "referral.routed"} <= actions
        assert "referral.patient_data_viewed" in actions
        viewers = page.split('id="viewers-title"')[1].split("</section>")[0]
        assert "user:paula.agent" in viewers
        assert re.search(r'data-label="Reads" class="num">1</td>', viewers)
        assert "read of patient data" in page

    def test_an_unknown_or_malformed_reference_is_not_found(self, client, ines):
        for reference in (UNUSED_REFERENCE, "not-a-reference", UNUSED_REFERENCE.lower()):
            url = reverse("desk:audit_referral", kwargs={"reference": reference})
            assert client.get(url).status_code == 404

    def test_a_broken_page_link_is_a_400_saying_so(self, client, ines):
        referral = submit("trial-prescreening", trial(6))
        response = client.get(history_url(referral), {"after": "-1"})
        assert response.status_code == 400
        assert "That page link is broken" in text(response)

    def test_the_referral_page_links_to_it_for_the_trails_readers_only(self, client, ines):
        referral = submit("trial-prescreening", trial(3))
        assert history_url(referral) in text(client.get(detail_url(referral)))
        login(client, coordinator())
        page = client.get(detail_url(referral))
        assert page.status_code == 200 and history_url(referral) not in text(page)


# --- export ------------------------------------------------------------------------------------


def unzip(response) -> dict[str, bytes]:
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


class TestExport:
    def test_it_exports_the_listed_events_signed_and_audited(self, client, ines, tmp_path):
        events = made(3, action="handmade.export")
        made(2, action="handmade.notme")
        response = client.post(EXPORT, {"action": "handmade.export"})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        files = unzip(response)
        (csv_name,) = [name for name in files if name.endswith(".csv")]
        assert set(files) == {csv_name, f"{csv_name}.sig"}
        rows = files[csv_name].decode().splitlines()
        assert [int(row.split(",")[0]) for row in rows[1:]] == [e.seq for e in events]
        signature = files[f"{csv_name}.sig"].decode()
        assert audit_extract_check(files[csv_name], signature)
        exported = AuditEvent.objects.get(action="audit.exported")
        assert exported.actor == "user:ines.auditor"
        assert exported.changes["events"]["new"] == 3
        assert exported.changes["filters"]["new"]["action"] == "handmade.export"
        # What an inspector does later with the unzipped pair.
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
        call_command("audit", "check-export", str(tmp_path / csv_name))

    def test_the_same_filters_as_the_page_including_a_reference(self, client, ines):
        referral = submit("trial-prescreening", trial(4))
        listed = seqs(client.get(SEARCH, {"subject": referral.reference}))
        files = unzip(client.post(EXPORT, {"subject": referral.reference}))
        (csv_name,) = [name for name in files if name.endswith(".csv")]
        rows = files[csv_name].decode().splitlines()[1:]
        assert [int(row.split(",")[0]) for row in rows] == sorted(listed)

    def test_a_bad_filter_is_a_400_and_nothing_is_exported(self, client, ines):
        response = client.post(EXPORT, {"from": "soon"})
        assert response.status_code == 400
        assert not AuditEvent.objects.filter(action="audit.exported").exists()

    def test_it_is_a_post_only(self, client, ines):
        assert client.get(EXPORT).status_code == 405

    def test_it_needs_the_csrf_token(self, ines):
        from django.test import Client

        strict = Client(enforce_csrf_checks=True)
        strict.force_login(ines)
        assert strict.post(EXPORT, {}).status_code == 403
        assert not AuditEvent.objects.filter(action="audit.exported").exists()


# --- verification page -----------------------------------------------------------------------


class TestVerifyPage:
    def test_the_button_starts_a_run_and_the_page_shows_its_result(
        self, client, ines, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("desk:audit_verify_start"))
        assert response.status_code == 302
        page = text(client.get(reverse("desk:audit_verify")))
        assert "The chain is intact" in page
        assert 'hx-trigger="every' not in page  # finished: nothing polls

    def test_a_running_run_is_polled_and_a_second_start_shows_it(self, client, ines):
        client.post(reverse("desk:audit_verify_start"))  # not committed: it stays queued
        response = client.post(reverse("desk:audit_verify_start"), follow=True)
        page = text(response)
        assert "already running" in page
        assert 'hx-trigger="every 2s"' in page
        run_url = re.search(r'hx-get="(/desk/audit/verify/[^"]+)"', page).group(1)
        fragment = client.get(run_url)
        assert fragment.status_code == 200 and 'id="verification"' in text(fragment)
        assert "Waiting for a worker" in text(fragment)

    def test_the_administrator_may_verify(self, client):
        login(client, staff("adam.admin", Role.ADMINISTRATOR))
        assert "Verify the chain now" in text(client.get(reverse("desk:audit_verify")))


# --- who may see it ----------------------------------------------------------------------------


def test_the_nav_link_is_for_the_trails_readers_only(client):
    login(client, auditor())
    assert f'href="{SEARCH}"' in text(client.get(reverse("desk:queues")))
    login(client, staff("adam.admin", Role.ADMINISTRATOR))
    assert f'href="{SEARCH}"' in text(client.get(reverse("desk:queues")))
    for user in (owner(), coordinator()):
        login(client, user)
        page = text(client.get(reverse("desk:queues")))
        assert f'href="{SEARCH}"' not in page and "Audit trail" not in page


def test_other_roles_get_not_found_everywhere(client):
    referral = submit("trial-prescreening", trial(5))
    login(client, owner())
    for url in (SEARCH, history_url(referral), reverse("desk:audit_verify")):
        assert client.get(url).status_code == 404
    assert client.post(EXPORT).status_code == 404
    assert client.post(reverse("desk:audit_verify_start")).status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="audit.").exists()


# --- no patient value, anywhere ----------------------------------------------------------------

NAME, FAMILY = "Zebulon", "Quixotefield"
EMAIL = "zebulon.quixote@example.net"
PHONE_DIGITS = "5550177"
REASON = "Xylophonic knee trouble since the spring"
NOTE = "Spoke with Zebulon about the Xylophonic knee"
PATIENT_VALUES = (NAME, FAMILY, "zebulon.quixote", PHONE_DIGITS, "555-0177", "555 0177",
                  "Xylophonic")  # fmt: skip


def test_no_patient_value_reaches_any_auditor_page_or_the_export(client):
    from refdesk.workflow.assignment import referral_claim
    from refdesk.workflow.contact import contact_attempt_log

    submission = support_by_email(8, reason=REASON)
    submission.lead.update(
        {"given_name": NAME, "family_name": FAMILY, "email": EMAIL, "phone": "+1 212 555 0177"}
    )
    referral = submit("patient-support", submission)
    paula = agent()
    referral_claim(referral=referral, user=paula)
    contact_attempt_log(
        referral=referral, channel="phone", outcome="reached", note=NOTE, actor=paula
    )
    login(client, paula)
    assert NAME in text(client.get(detail_url(referral)))  # the agent sees the lead (audited)

    for reader in (auditor(), staff("adam.admin", Role.ADMINISTRATOR)):
        login(client, reader)
        pages = [
            client.get(SEARCH),
            client.get(SEARCH, {"subject": referral.reference}),
            client.get(history_url(referral)),
            client.get(reverse("desk:audit_verify")),
        ]
        if reader.role == Role.COMPLIANCE_AUDITOR:  # reads every referral, masked
            pages.append(client.get(detail_url(referral)))
        for response in pages:
            assert response.status_code == 200
            body = without_ids(text(response))
            for value in PATIENT_VALUES:
                assert value not in body, (value, response.request["PATH_INFO"])
        files = unzip(client.post(EXPORT, {"subject": referral.reference}))
        for data in files.values():
            body = without_ids(data.decode())
            for value in PATIENT_VALUES:
                assert value not in body, value
    # The values are in the trail as fingerprints, shown as stored.
    history = text(client.get(history_url(referral)))
    assert re.search(r"&quot;lead&quot;: \{&quot;new&quot;: &quot;hmac:[0-9a-f]{16}", history)
