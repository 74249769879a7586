"""The desk's work tools (issue 10): My work, Next referral, sortable columns with seek paging,
saved filters, bulk actions, keyboard shortcuts, human words and the phone layout, and the
query budget of every list page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refdesk.access.selectors import referral_list_visible_to
from refdesk.accounts.choices import Role
from refdesk.accounts.models import TeamMembership
from refdesk.audit.models import AuditEvent
from refdesk.desk import queue_selectors as qs
from refdesk.desk import views_work
from refdesk.desk.models import SavedFilter
from refdesk.desk.tests.lists import NOW, QUEUE_URL, logged_in, references, trials
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.routing.models import Queue
from refdesk.testing import (
    SESSION_WRITE_QUERIES,
    SESSION_WRITE_STATEMENTS,
    login_with_mfa,
    staff,
    submit,
    support,
)
from refdesk.workflow.assignment import referral_claim

pytestmark = pytest.mark.django_db

STATIC = Path(__file__).resolve().parent.parent / "static" / "desk"


def next_link(response) -> dict | None:
    found = re.search(r'href="\?([^"]*after=[^"]*)" rel="next"', response.content.decode())
    if not found:
        return None
    pairs = found.group(1).replace("&amp;", "&").split("&")
    return dict(pair.split("=", 1) for pair in pairs)


# --- sorts x seek paging --------------------------------------------------------------------------

OPEN = [Stage.QUEUED, Stage.IN_PROGRESS, Stage.AWAITING_REVIEW, Stage.NEEDS_INFO, Stage.SCHEDULED]


def expected_order(referrals: list[Referral], sort: qs.Sort) -> list[str]:
    """The order a sort promises, computed independently of the code under test."""
    valued = [r for r in referrals if getattr(r, sort.column) is not None]
    empty = [r for r in referrals if getattr(r, sort.column) is None]
    valued.sort(key=lambda r: (getattr(r, sort.column), r.public_id), reverse=sort.descending)
    empty.sort(key=lambda r: r.public_id, reverse=sort.descending)
    return [r.reference for r in valued + empty]


@pytest.fixture
def pool(people, frozen):
    return trials(16)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from(OPEN),
            st.one_of(st.none(), st.integers(-3, 3)),  # due, in hours (ties are likely)
            st.integers(0, 3),  # received, hours ago
        ),
        min_size=16,
        max_size=16,
    ),
    size=st.integers(1, 6),
    sort_key=st.sampled_from(list(qs.SORTS)),
)
def test_every_sort_walks_every_row_once_in_its_order_page_by_page(
    pool, people, data, size, sort_key
):
    for referral, (stage, due, received) in zip(pool, data, strict=True):
        Referral.objects.filter(pk=referral.pk).update(
            stage=stage,
            first_response_due_at=None if due is None else NOW + dt.timedelta(hours=due),
            received_at=NOW - dt.timedelta(hours=received),
        )
    sort = qs.SORTS[sort_key]
    queue = Queue.objects.get(slug="clinical-ops-prescreening")
    visible = referral_list_visible_to(user=people["coordinator"]).filter(queue=queue)
    seen, cursor = [], None
    while True:
        page, cursor = qs.queue_page(
            visible, stages=qs.OPEN_STAGES, cursor=cursor, size=size, sort=sort
        )
        seen += [r.reference for r in page]
        if cursor is None:
            break
        cursor = qs.Cursor.decode(cursor.encode(), sort=sort.key)  # through the URL form
    fresh = list(Referral.objects.filter(pk__in=[r.pk for r in pool]))
    assert seen == expected_order(fresh, sort)


def test_column_headers_sort_by_links_with_aria_sort_and_pages_keep_the_sort(
    client, people, frozen
):
    made = trials(7)
    client = logged_in(client, people["coordinator"])
    page = client.get(QUEUE_URL)
    html = page.content.decode()
    assert re.search(
        r'<th scope="col" aria-sort="ascending"><a class="sort-link" href="\?sort=-due"', html
    )
    assert re.search(r'aria-sort="none"><a class="sort-link" href="\?sort=-received"', html)
    newest = sorted(made, key=lambda r: (r.received_at, r.public_id), reverse=True)
    seen, query = [], {"sort": "-received", "size": "5"}
    while query:
        response = client.get(QUEUE_URL, query)
        seen += references(response)
        query = next_link(response)
        if query:
            assert query["sort"] == "-received"
    assert seen == [r.reference for r in newest]


def test_a_cursor_of_another_sort_shows_the_first_page(client, people, frozen):
    trials(3)
    cursor = qs.Cursor(due=NOW, public_id=uuid.uuid4(), sort="-due").encode()
    response = logged_in(client, people["coordinator"]).get(
        QUEUE_URL, {"sort": "due", "after": cursor}
    )
    assert len(references(response)) == 3


def test_an_unknown_sort_falls_back_to_due_time(client, people, frozen):
    trials(2)
    response = logged_in(client, people["coordinator"]).get(QUEUE_URL, {"sort": "lead_name"})
    assert response.status_code == 200 and len(references(response)) == 2
    assert re.search(r'<option value="due" selected>', response.content.decode())


# --- My work --------------------------------------------------------------------------------------


def test_my_work_lists_only_my_open_referrals_due_soonest_first(client, people, frozen):
    late, mine, theirs, unassigned = trials(4)
    peer = staff("p-peer", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    me = people["coordinator"]
    Referral.objects.filter(pk=late.pk).update(first_response_due_at=NOW - dt.timedelta(days=1))
    for referral, user in ((late, me), (mine, me), (theirs, peer)):
        referral_claim(referral=Referral.objects.get(pk=referral.pk), user=user)
    support_referral = submit("patient-support", support(40))
    referral_claim(
        referral=Referral.objects.select_related("queue").get(pk=support_referral.pk),
        user=people["agent"],
    )
    client = logged_in(client, me)
    page = client.get("/desk/work")
    assert references(page) == [late.reference, mine.reference]
    assert "Queue" in page.content.decode()
    assert references(client.get("/desk/work", {"assignee": "unassigned"})) == [
        unassigned.reference
    ]
    # The agent's My work has only theirs; the supervisor, who claims nothing, sees none.
    assert references(logged_in(client, people["agent"]).get("/desk/work")) == [
        support_referral.reference
    ]
    owner_page = logged_in(client, people["owner"]).get("/desk/work")
    assert references(owner_page) == []
    assert "Nothing is assigned to you" in owner_page.content.decode()


def test_my_work_empty_tabs_say_what_to_do(client, people):
    client = logged_in(client, people["coordinator"])
    assert "Press Next referral" in client.get("/desk/work").content.decode()
    unassigned = client.get("/desk/work", {"assignee": "unassigned"}).content.decode()
    assert "No unassigned work in your queues" in unassigned


def test_my_work_for_someone_in_no_team_says_what_to_do(client, people):
    page = logged_in(client, people["auditor"]).get("/desk/work").content.decode()
    assert "You work no queue yet" in page


def test_the_navigation_links_to_my_work(client, people):
    page = logged_in(client, people["coordinator"]).get("/desk/").content.decode()
    assert 'href="/desk/work"' in page


# --- Next referral --------------------------------------------------------------------------------


def test_next_referral_claims_the_oldest_due_and_opens_it(client, people, frozen):
    fresh = trials(2, start=1)
    [late] = trials(1, start=5, days_ago=3)
    client = logged_in(client, people["coordinator"])
    response = client.post("/desk/work/next")
    assert response.status_code == 302
    assert response["Location"] == f"/desk/referrals/{late.public_id}"
    late.refresh_from_db()
    assert (late.stage, late.assigned_to) == (Stage.IN_PROGRESS, people["coordinator"])
    assert AuditEvent.objects.filter(
        action="referral.claimed", subject_id=str(late.public_id)
    ).exists()
    # Work in progress first: offered, not silently skipped.
    offer = client.post(f"{QUEUE_URL}/next")
    assert offer.status_code == 200
    assert f"Continue {late.reference}" in offer.content.decode()
    taken = client.post(f"{QUEUE_URL}/next", {"take": "new"})
    first_fresh = min(fresh, key=lambda r: (r.first_response_due_at, r.public_id))
    assert taken["Location"] == f"/desk/referrals/{first_fresh.public_id}"


def test_next_referral_skips_one_claimed_meanwhile(client, people, frozen, monkeypatch):
    first, second = sorted(trials(2), key=lambda r: (r.first_response_due_at, r.public_id))
    peer = staff("p-peer", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    read = views_work._next_candidates

    def raced(user, queues, limit):
        candidates = read(user, queues, limit)  # read before the colleague's claim lands
        referral_claim(referral=Referral.objects.get(pk=first.pk), user=peer)
        return candidates

    monkeypatch.setattr(views_work, "_next_candidates", raced)
    response = logged_in(client, people["coordinator"]).post("/desk/work/next")
    assert response["Location"] == f"/desk/referrals/{second.public_id}"
    first.refresh_from_db()
    assert first.assigned_to == peer


def test_next_referral_takes_nothing_it_may_not_claim(client, people, frozen):
    [referral] = trials(1)
    peer = staff("p-peer", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    Referral.objects.filter(pk=referral.pk).update(assigned_to=peer)  # someone else's
    response = logged_in(client, people["coordinator"]).post("/desk/work/next", follow=True)
    assert "Nothing to take" in response.content.decode()
    # The agent works another team's queue; the supervisor's role claims nothing.
    Referral.objects.filter(pk=referral.pk).update(assigned_to=None)
    agent = logged_in(client, people["agent"]).post("/desk/work/next", follow=True)
    assert "Nothing to take" in agent.content.decode()
    owner = logged_in(client, people["owner"]).post("/desk/work/next", follow=True)
    assert "does not claim work" in owner.content.decode()
    referral.refresh_from_db()
    assert (referral.stage, referral.assigned_to) == (Stage.QUEUED, None)
    assert logged_in(client, people["agent"]).post(f"{QUEUE_URL}/next").status_code == 404


# --- saved filters --------------------------------------------------------------------------------


def test_saved_filters_keep_known_keys_only_and_belong_to_their_owner(client, people, frozen):
    trials(1)
    me, peer = people["coordinator"], staff("p-peer", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    client = logged_in(client, me)
    response = client.post(
        "/desk/saved-filters",
        {
            "page": "clinical-ops-prescreening",
            "name": "  Breached   first ",
            "query": "sla=breached&sort=-due&evil=<script>&after=xyz",
        },
    )
    assert response.status_code == 302
    saved = SavedFilter.objects.get(owner=me)
    assert (saved.name, saved.query) == ("Breached first", "sla=breached&sort=-due")
    assert "Breached first" in client.get(QUEUE_URL).content.decode()
    again = client.post(
        "/desk/saved-filters",
        {"page": "clinical-ops-prescreening", "name": "Breached first", "query": ""},
        follow=True,
    )
    assert "already have a saved filter" in again.content.decode()
    # Another user neither sees nor deletes it.
    other = logged_in(client, peer)
    assert "Breached first" not in other.get(QUEUE_URL).content.decode()
    assert other.post(f"/desk/saved-filters/{saved.public_id}/delete").status_code == 404
    assert SavedFilter.objects.filter(pk=saved.pk).exists()
    mine = logged_in(client, me).post(f"/desk/saved-filters/{saved.public_id}/delete")
    assert mine.status_code == 302 and not SavedFilter.objects.exists()


def test_a_saved_filter_for_a_queue_i_cannot_see_is_refused(client, people):
    response = logged_in(client, people["agent"]).post(
        "/desk/saved-filters", {"page": "clinical-ops-prescreening", "name": "x", "query": ""}
    )
    assert response.status_code == 404 and not SavedFilter.objects.exists()


def test_my_work_saves_filters_too(client, people, frozen):
    client = logged_in(client, people["coordinator"])
    client.post("/desk/saved-filters", {"page": "my-work", "name": "Late", "query": "sla=breached"})
    assert SavedFilter.objects.get().queue == "my-work"
    page = client.get("/desk/work").content.decode()
    assert 'href="?sla=breached">Late</a>' in page


# --- bulk actions ---------------------------------------------------------------------------------


def bulk(client, follow=False, **data):
    return client.post(f"{QUEUE_URL}/bulk", data, follow=follow)


def test_bulk_assign_reports_each_item_and_audits_each_success(client, people, frozen):
    one, two = trials(2)
    elsewhere = submit("patient-support", support(41))  # not in this queue's team for... anyone
    TeamMembership.objects.filter(user=people["coordinator"]).update(available=True)
    owner = logged_in(client, people["owner"])
    response = bulk(
        owner,
        action="assign_to",
        assignee=str(people["coordinator"].public_id),
        referrals=[str(one.public_id), str(two.public_id), str(elsewhere.public_id), "nope",
                   str(uuid.uuid4())],
    )  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    done = re.search(r'data-result="done">(.*?)</ul>', html, re.S).group(1)
    refused = re.search(r'data-result="refused">(.*?)</ul>', html, re.S).group(1)
    assert one.reference in done and two.reference in done
    assert elsewhere.reference in refused and "not in this queue" in refused
    assert refused.count("not found") == 2
    for referral in (one, two):
        referral.refresh_from_db()
        assert referral.assigned_to == people["coordinator"]
        assert AuditEvent.objects.filter(
            action="referral.assigned", subject_id=str(referral.public_id)
        ).exists()


def test_bulk_refuses_items_the_user_may_not_touch_or_see(client, people, frozen):
    [mine] = trials(1)
    hidden = submit("patient-support", support(42))
    peer = staff("p-peer", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    [taken] = trials(1, start=3)
    referral_claim(referral=Referral.objects.get(pk=taken.pk), user=peer)
    client = logged_in(client, people["coordinator"])
    response = bulk(
        client,
        action="claim",
        referrals=[str(mine.public_id), str(taken.public_id), str(hidden.public_id)],
    )
    html = response.content.decode()
    assert "1 done, 2 refused" in html
    assert f"<strong>{taken.reference}</strong>: Claiming is not possible while" in html
    # The support referral is another team's: reported as not found, never by its reference.
    assert hidden.reference not in html and "not found" in html
    # The coordinator may not choose assignees: the action is not offered, nothing happens.
    refused = bulk(client, action="assign_to", referrals=[str(mine.public_id)], follow=True)
    assert "Nothing was done" in refused.content.decode()


def test_bulk_is_capped(client, people, frozen):
    client = logged_in(client, people["owner"])
    ids = [str(uuid.uuid4()) for _ in range(views_work.BULK_MAX + 1)]
    response = client.post(
        f"{QUEUE_URL}/bulk", {"action": "reroute", "referrals": ids, "target": "x", "reason": "r"},
        follow=True,
    )  # fmt: skip
    assert f"at most {views_work.BULK_MAX}" in response.content.decode()
    empty = client.post(f"{QUEUE_URL}/bulk", {"action": "assign_to"}, follow=True)
    assert "Select at least one referral" in empty.content.decode()


def test_bulk_reroute_needs_a_reason_and_goes_through_the_service(client, people, frozen):
    [referral] = trials(1)
    owner = logged_in(client, people["owner"])
    missing = bulk(
        owner, action="reroute", target="medical-review", referrals=[str(referral.public_id)]
    )
    assert missing.status_code == 302
    page = owner.get(QUEUE_URL).content.decode()
    # The owner's rows carry labelled checkboxes tied to the action bar's form.
    label = f'<label for="pick-{referral.public_id}" class="visually-hidden">'
    assert f"{label}Select {referral.reference}</label>" in page
    assert 'form="bulk-form"' in page and 'id="bulk-form"' in page


# --- keyboard shortcuts, no JavaScript, human words, the phone layout -----------------------------


def test_shortcuts_are_a_static_deferred_script_with_a_help_dialog(client, people, frozen):
    trials(1)
    html = logged_in(client, people["coordinator"]).get(QUEUE_URL).content.decode()
    assert re.search(r'<script src="[^"]*desk/shortcuts\.js" defer></script>', html)
    assert '<dialog id="shortcuts-help"' in html and "<kbd>j</kbd>" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html.split("<body", 1)[1])  # no inline
    script = (STATIC / "shortcuts.js").read_text()
    for key in ('"j"', '"k"', '"o"', '"c"', '"?"', '"Enter"'):
        assert key in script
    assert "INPUT" in script and "TEXTAREA" in script  # not while typing


def test_without_javascript_every_row_action_is_a_plain_form(client, people, frozen):
    [referral] = trials(1)
    html = logged_in(client, people["coordinator"]).get(QUEUE_URL).content.decode()
    claim = f'action="/desk/queues/clinical-ops-prescreening/referrals/{referral.public_id}/claim"'
    assert f'<form method="post" {claim}' in html
    assert f'href="/desk/referrals/{referral.public_id}"' in html
    assert '<form method="post" action="/desk/queues/clinical-ops-prescreening/next"' in html


def test_the_queue_speaks_human_words_and_the_viewers_time_zone(client, people, frozen):
    [referral] = trials(1)
    me = people["coordinator"]
    me.timezone = "Europe/Paris"
    me.save(update_fields=["timezone"])
    html = logged_in(client, me).get(QUEUE_URL).content.decode()
    assert "Trial prescreen" in html and ">trial_prescreen<" not in html
    assert '<label for="id_sla">First response</label>' in html and ">Sla<" not in html
    assert "Times are in your time zone, Europe/Paris" in html
    assert "America/New_York" in html  # the team's business hours, noted
    local = referral.first_response_due_at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert local.strftime("%H:%M CET") in html
    support_referral = submit("patient-support", support(43))
    agent_page = logged_in(client, people["agent"]).get("/desk/queues/patient-services")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", agent_page.content.decode())
    assert support_referral.request_type not in cells and "Call back from the help line" in cells


def test_an_empty_queue_says_what_to_do(client, people):
    html = logged_in(client, people["coordinator"]).get(QUEUE_URL).content.decode()
    assert "This queue is empty" in html
    filtered = logged_in(client, people["coordinator"]).get(QUEUE_URL, {"sla": "breached"})
    assert "Change or clear the filters" in filtered.content.decode()


def test_at_390_px_rows_become_labelled_cards_from_the_work_stylesheet(client, people, frozen):
    trials(1)
    html = logged_in(client, people["coordinator"]).get(QUEUE_URL).content.decode()
    assert re.search(r'<link rel="stylesheet" href="[^"]*desk/queue\.css">', html)
    assert 'class="desk-table work-table"' in html
    for label in ("Reference", "Lead", "Request type", "First response due", "Assignee"):
        assert f'data-label="{label}"' in html
    css = (STATIC / "queue.css").read_text()
    media = css.split("@media (max-width: 640px)", 1)[1]
    assert ".work-table tr" in media and "display: block" in media
    assert "attr(data-label)" in media
    assert "min-height: 44px" in css


# --- the query budget -----------------------------------------------------------------------------

TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)

PAGES = [
    (QUEUE_URL, {"sla": "breached", "size": "25"}),
    (QUEUE_URL, {"assignee": "unassigned", "stage": "queued"}),
    (QUEUE_URL, {}),
    (QUEUE_URL, {"sort": "-due"}),
    (QUEUE_URL, {"sort": "-received"}),
    (QUEUE_URL, {"sort": "received"}),
    ("/desk/work", {}),
    ("/desk/work", {"sort": "-due"}),
    ("/desk/work", {"assignee": "unassigned"}),
]


@pytest.mark.parametrize("path,query", PAGES)
def test_every_list_page_runs_at_most_8_queries_and_a_queue_page_9(
    client, people, frozen, settings, path, query, django_assert_max_num_queries
):
    """With MFA enforced (the production middleware) and patient names shown (audited).
    SQLite's explicit BEGIN/COMMIT around the audit write are not queries of the page; on
    PostgreSQL they are not sent as statements at all. A queue page lists the queue's open
    manual checks for those who work it: one query more."""
    settings.REFDESK_MFA_REQUIRED = True
    made = trials(8, days_ago=10)
    for referral in made[:3]:
        referral_claim(referral=Referral.objects.get(pk=referral.pk), user=people["coordinator"])
    login_with_mfa(client, people["coordinator"])
    client.get(path, query)  # the session's first write
    # Plus the session's write: the idle clock's stamp, on every signed-in request.
    statements_budget = (9 if path == QUEUE_URL else 8) + SESSION_WRITE_STATEMENTS
    budget = statements_budget + SESSION_WRITE_QUERIES - SESSION_WRITE_STATEMENTS
    if connection.vendor == "sqlite":
        budget += 2
    with django_assert_max_num_queries(budget) as captured:
        response = client.get(path, query)
    assert response.status_code == 200 and references(response)
    statements = [q for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]
    assert len(statements) <= statements_budget, [q["sql"][:80] for q in statements]


def test_claim_over_htmx_from_my_work_answers_with_a_my_work_row(client, people, frozen):
    [referral] = trials(1)
    client = logged_in(client, people["coordinator"])
    queue_row = client.post(
        f"{QUEUE_URL}/referrals/{referral.public_id}/claim", headers={"HX-Request": "true"}
    ).content.decode()
    assert 'data-label="Queue"' not in queue_row and 'name="referrals"' in queue_row
    [other] = trials(1, start=2)
    work_row = client.post(
        f"{QUEUE_URL}/referrals/{other.public_id}/claim",
        {"back": "my-work"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert 'data-label="Queue"' in work_row and 'name="referrals"' not in work_row
    plain = client.post(f"{QUEUE_URL}/referrals/{other.public_id}/claim", {"back": "my-work"})
    assert plain["Location"] == "/desk/work"


def test_the_first_eight_cells_keep_their_order_for_every_layout(client, people, frozen):
    """The browser walkthrough reads a row's cells by position; new columns go after them."""
    trials(1)
    expected = ["Reference", "Lead", "Program", "Source", "Request type", "Stage",
                "First response due", "Assignee"]  # fmt: skip
    for user, path in (
        (people["coordinator"], QUEUE_URL),
        (people["owner"], QUEUE_URL),
        (people["coordinator"], "/desk/work?assignee=unassigned"),
    ):
        html = logged_in(client, user).get(path).content.decode()
        row = re.search(r'<tr id="row-.*?</tr>', html, re.S).group(0)
        cells = re.findall(r"<td(?: data-label=\"([^\"]+)\")?", row)
        assert cells[:8] == expected, (path, cells)
