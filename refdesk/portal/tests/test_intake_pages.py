"""The public intake page /r/<code>: generated form, confirmation, ARIA wiring, abuse guards."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from refdesk.consent.models import ConsentRecord
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.labels import latest_consent_text
from refdesk.intake.models import Referral
from refdesk.portal.forms import IntakeForm
from refdesk.portal.views import sla_in_words
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Source
from refdesk.referrers.services import referrer_create, referrer_deactivate
from refdesk.testing import latest_consent_version, make_referrer, without_ids

pytestmark = pytest.mark.django_db

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Page(HTMLParser):
    """A rendered page as a flat list of elements (tag, attributes, text): enough to check which
    label and which message belong to which input, without a browser."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._open: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": []}
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index]["tag"] == tag:
                del self._open[index:]
                return

    def handle_data(self, data):
        for element in self._open:
            element["text"].append(data)

    def find(self, tag: str, **attrs) -> list[dict]:
        return [
            e
            for e in self.elements
            if e["tag"] == tag and all(e["attrs"].get(k) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> dict | None:
        return next((e for e in self.elements if e["attrs"].get("id") == element_id), None)

    @staticmethod
    def text(element: dict) -> str:
        return " ".join("".join(element["text"]).split())

    def label_for(self, element_id: str) -> str:
        labels = self.find("label", **{"for": element_id})
        return self.text(labels[0]) if labels else ""


def trial_form_data(**overrides) -> dict:
    data = {
        "request_type": "trial_prescreen",
        "lead_given_name": "Avery",
        "lead_family_name": "Quill",
        "lead_preferred_contact": "phone",
        "lead_phone": "(617) 555-0142",
        "lead_email": "avery.quill@example.org",
        "lead_timezone": "America/Chicago",
        "lead_country": "US",
        "lead_birth_year": "1970",
        "answer_study_id": "RDX-301",
        "answer_age": "54",
        "answer_diagnosis_confirmed": "yes",
        "answer_ecog": "1",
        "answer_prior_therapy_lines": "1",
        "answer_active_brain_metastases": "no",
        "consent_granted": "on",
        "consent_channels": ["phone", "email"],
        "consent_method": "attested_by_referrer",
        "consent_text_version": "2026-01",
        "utm_source": "newsletter",
        "utm_campaign": "spring-2026",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def coordinator(db):
    return make_referrer("trial-prescreening", "study-coordinator")


def _web_sources():
    for program in Program.objects.all():
        definition = version_definition(program.active_version)
        for slug, source in definition.sources.items():
            yield program.slug, slug, source, definition


def test_every_web_source_page_shows_its_instructions_and_every_field_with_a_label(client):
    seen = 0
    for program_slug, slug, source, definition in _web_sources():
        if "web" not in source.submission_methods:
            continue
        seen += 1
        referrer = make_referrer(program_slug, slug)
        response = client.get(f"/r/{referrer.code}")
        assert response.status_code == 200, (program_slug, slug)
        html = response.content.decode()
        page = Page(html)
        assert Page.text(page.find("title")[0]) == f"Refer to {definition.name}"
        assert page.find("meta", name="viewport")
        body = " ".join(html.split())
        assert " ".join(source.instructions.what_to_submit.split()).replace("'", "&#x27;") in body
        assert source.instructions.response_time.capitalize() in body
        for name, spec in definition.intake.lead_fields.items():
            field_id = f"id_lead_{name}"
            if name == "preferred_contact":  # radios: a legend, and a label per option
                assert page.find("input", name="lead_preferred_contact", type="radio")
                for index, _ in enumerate(spec.choices or ("phone", "email", "sms", "mail")):
                    assert page.label_for(f"{field_id}_{index}")
                continue
            assert page.by_id(field_id) is not None, field_id
            assert page.label_for(field_id), f"{field_id} has no <label for>"
            inferable = name == "timezone" and definition.intake.timezone_from_location
            if spec.required and not inferable:
                assert "(required)" in page.label_for(field_id)
            if spec.example and name != "timezone":  # a list of zones needs no example
                assert f"Example: {spec.example}" in Page.text(page.by_id(f"{field_id}_helptext"))
        for name, spec in definition.intake.answers.items():
            if spec.type == "choice" and len(spec.choices) == 1:  # nothing to choose: text
                assert spec.choices[0].label in Page.text(page.by_id(f"id_answer_{name}"))
                assert not page.find("select", name=f"answer_{name}")
                continue
            assert spec.label in page.label_for(f"id_answer_{name}")
        if definition.consent:
            text = latest_consent_text(definition, timezone.localdate())
            assert " ".join(text.text.split()) in body
            assert page.find("input", name="consent_text_version", value=text.version)
        else:
            assert not page.find("input", name="consent_granted")
        for element in page.elements:  # every visible input is labelled
            attrs = element["attrs"]
            if element["tag"] in ("input", "select", "textarea") and attrs.get("type") != "hidden":
                assert page.label_for(attrs["id"]), attrs.get("name")
    assert seen == 8


def test_a_code_for_an_api_only_source_is_not_a_web_page(client):
    partner = make_referrer("provider-education", "partner-lab")
    assert client.get(f"/r/{partner.code}").status_code == 404


def test_unknown_mistyped_and_inactive_codes_get_a_friendly_not_found_page(client, coordinator):
    mistyped = coordinator.code[:-1] + ("0" if coordinator.code[-1] != "0" else "1")
    retired = make_referrer("trial-prescreening", "site-investigator")
    referrer_deactivate(referrer=retired, actor="system:test")
    for code in ("NOPE", mistyped, retired.code, "x" * 300):
        response = client.get(f"/r/{code}")
        assert response.status_code == 404
        assert b"Referral link not found" in response.content
        assert b"Traceback" not in response.content


def test_link_campaign_parameters_are_carried_through_the_form_and_stored(client, coordinator):
    page = Page(
        client.get(f"/r/{coordinator.code}?utm_source=newsletter&utm_term=nsclc").content.decode()
    )
    assert page.find("input", name="utm_source", value="newsletter", type="hidden")
    assert page.find("input", name="utm_term", value="nsclc", type="hidden")
    client.post(f"/r/{coordinator.code}", trial_form_data(utm_term="nsclc"))
    referral = Referral.objects.get()
    assert (referral.utm_source, referral.utm_campaign, referral.utm_term) == (
        "newsletter",
        "spring-2026",
        "nsclc",
    )


def test_a_valid_submission_confirms_with_the_reference_and_no_patient_data(client, coordinator):
    response = client.post(f"/r/{coordinator.code}", trial_form_data())
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.submission_method == "web" and referral.stage == Stage.QUEUED
    assert referral.lead["given_name"] == "Avery"
    consent = ConsentRecord.objects.get(referral=referral)
    assert consent.text_version == latest_consent_version("trial-prescreening")
    assert consent.purposes == ["trial_contact"] and consent.method == "attested_by_referrer"
    location = response["Location"]
    confirmation = client.get(location)
    html = confirmation.content.decode()
    assert confirmation.status_code == 200
    assert referral.reference in html
    assert "within 2 business days, Monday–Friday 09:00–17:00 America/New_York" in html
    assert "rdx301-governance@example.com" in html
    # Signed tokens in links are random: "555" may occur in one by chance, and is no phone.
    shown, address = without_ids(html), without_ids(location)
    for patient_value in ("Avery", "Quill", "avery.quill", "555", "0142", "1970", "Chicago"):
        assert patient_value not in shown
        assert patient_value not in address
    assert "Referral received" in Page.text(Page(html).find("title")[0])


def test_a_duplicate_is_confirmed_as_already_in_progress(client, coordinator):
    client.post(f"/r/{coordinator.code}", trial_form_data())
    response = client.post(f"/r/{coordinator.code}", trial_form_data(lead_given_name="Ava"))
    second = Referral.objects.get(outcome=Outcome.DUPLICATE)
    html = client.get(response["Location"]).content.decode()
    assert second.reference in html
    assert "already in progress with the Clinical Operations team" in html


def test_field_errors_are_tied_to_their_inputs_and_summarised_at_the_top(client, coordinator):
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(lead_email="not-an-email", lead_given_name="", answer_age="old"),
    )
    assert response.status_code == 200
    assert Referral.objects.count() == 0
    page = Page(response.content.decode())
    for field_id in ("id_lead_given_name", "id_answer_age"):
        field = page.by_id(field_id)
        assert field["attrs"]["aria-invalid"] == "true"
        described = [page.by_id(i) for i in field["attrs"]["aria-describedby"].split()]
        assert any(
            d is not None and "error-message" in d["attrs"].get("class", "") for d in described
        )
    summary = page.by_id("error-summary")
    assert summary["attrs"]["role"] == "alert"
    assert page.find("a", href="#id_lead_given_name")
    assert page.find("a", href="#id_answer_age")
    # The email passed the form's shape check; the service's message lands on the same input.
    email_page = Page(
        client.post(f"/r/{coordinator.code}", trial_form_data(lead_email="a@b")).content.decode()
    )
    email = email_page.by_id("id_lead_email")
    assert email["attrs"]["aria-invalid"] == "true"
    messages = [Page.text(email_page.by_id(i)) for i in email["attrs"]["aria-describedby"].split()]
    assert "Error: This is not a valid email address." in messages
    assert Referral.objects.count() == 0


def test_a_missing_consent_is_reported_on_the_consent_box(client, coordinator):
    response = client.post(f"/r/{coordinator.code}", trial_form_data(consent_granted=None))
    page = Page(response.content.decode())
    box = page.by_id("id_consent_granted")
    assert box["attrs"]["aria-invalid"] == "true"
    error = page.by_id("id_consent_granted_error")
    assert "Tick the box to confirm the person agrees to the consent text" in Page.text(error)
    assert Referral.objects.count() == 0


def test_a_filled_honeypot_looks_accepted_but_writes_nothing(client, coordinator):
    response = client.post(f"/r/{coordinator.code}", trial_form_data(website="http://spam"))
    assert response.status_code == 200
    assert b"your referral has been received" in response.content
    assert b"RF-" not in response.content
    assert Referral.objects.count() == 0


@time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, 5, tzinfo=dt.UTC), tick=False)
def test_page_views_do_not_use_up_the_limit_and_submissions_beyond_it_get_a_friendly_429(
    client, coordinator, settings
):
    settings.REFDESK_RATE_LIMITS = {"intake.address": (3, 60)}
    for _ in range(10):  # reading the form costs nothing
        assert client.get(f"/r/{coordinator.code}").status_code == 200
    statuses = [client.post(f"/r/{coordinator.code}", {}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.post(f"/r/{coordinator.code}", trial_form_data())
    assert limited.status_code == 429 and limited["Retry-After"] == "55"
    page = Page(limited.content.decode())
    assert Page.text(page.find("title")[0]) == "Please wait before sending again"
    text = Page.text(page.find("main")[0])
    assert "What you just sent was not received." in text
    assert "Wait a minute." in text and "Back button" in text
    assert page.find("a", href=f"/r/{coordinator.code}")
    assert Referral.objects.count() == 0
    # Still readable while limited; another address and a new window may send again.
    assert client.get(f"/r/{coordinator.code}").status_code == 200
    assert Client(REMOTE_ADDR="10.9.9.9").post(f"/r/{coordinator.code}", {}).status_code == 200
    with time_machine.travel(dt.datetime(2026, 3, 2, 15, 1, 1, tzinfo=dt.UTC)):
        assert client.post(f"/r/{coordinator.code}", trial_form_data()).status_code == 302


@time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, 5, tzinfo=dt.UTC), tick=False)
def test_guessing_codes_is_still_limited_by_address(client, settings):
    # Unknown codes are not page views of a real form: they count, so codes cannot be guessed.
    settings.REFDESK_RATE_LIMITS = {"intake.address": (3, 60)}
    statuses = [client.get(f"/r/NOPE{n:03d}").status_code for n in range(4)]
    assert statuses == [404, 404, 404, 429]


@time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, 5, tzinfo=dt.UTC), tick=False)
def test_the_confirmation_and_the_form_still_show_after_the_address_limit_is_reached(
    client, coordinator, settings
):
    # The referrer must always get to see the reference, and to read the form.
    settings.REFDESK_RATE_LIMITS = {"intake.address": (1, 60)}
    location = client.post(f"/r/{coordinator.code}", trial_form_data())["Location"]
    assert client.post(f"/r/{coordinator.code}", trial_form_data()).status_code == 429
    assert client.get(f"/r/{coordinator.code}").status_code == 200
    confirmation = client.get(location)
    assert confirmation.status_code == 200
    assert Referral.objects.get().reference in confirmation.content.decode()


def test_the_confirmation_gives_the_referrer_a_status_link_and_it_opens(client, coordinator):
    location = client.post(f"/r/{coordinator.code}", trial_form_data())["Location"]
    page = Page(client.get(location).content.decode())
    hrefs = [a["attrs"].get("href") or "" for a in page.find("a")]
    links = [href for href in hrefs if "/r/status/" in href]
    assert len(links) == 1
    path = links[0].split("://", 1)[-1].split("/", 1)[1]
    status = client.get("/" + path)
    assert status.status_code == 200
    html = status.content.decode()
    assert "Waiting for the team" in html  # queued, consent granted: the status is shared
    for patient_value in ("Avery", "Quill", "avery.quill", "0142"):
        assert patient_value not in without_ids(html)


@time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, 5, tzinfo=dt.UTC), tick=False)
def test_too_many_submissions_for_one_code_get_429_whatever_the_address(coordinator, settings):
    settings.REFDESK_RATE_LIMITS = {"intake.code": (2, 60)}
    statuses = [
        Client(REMOTE_ADDR=f"10.0.0.{n}").post(f"/r/{coordinator.code}", {}).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_a_post_without_the_csrf_token_is_refused(coordinator):
    response = Client(enforce_csrf_checks=True).post(f"/r/{coordinator.code}", trial_form_data())
    assert response.status_code == 403
    assert Referral.objects.count() == 0


def test_the_request_type_list_is_limited_to_what_the_source_may_send(db):
    definition = version_definition(Program.objects.get(slug="provider-education").active_version)
    narrowed = definition.model_copy(
        update={
            "sources": {
                **definition.sources,
                "hcp-referral": definition.sources["hcp-referral"].model_copy(
                    update={"request_types": ("clinical_question",)}
                ),
            }
        }
    )
    form = IntakeForm(definition=narrowed, source_slug="hcp-referral", consent_text=None)
    # One type left is no choice: shown as text, its value taken as given.
    only = form.fields["request_type"]
    assert [value for value, _ in only.choices] == ["clinical_question"]
    assert only.disabled and only.initial == "clinical_question"
    assert only.fixed_label == "Clinical question"
    full = IntakeForm(definition=definition, source_slug="hcp-referral", consent_text=None)
    assert len(full.fields["request_type"].choices) == len(definition.request_types)
    assert not full.fields["request_type"].disabled


def test_the_consent_step_shows_the_latest_text_already_published(db):
    definition = version_definition(Program.objects.get(slug="patient-support").active_version)
    current = definition.consent.texts[0]
    newer = current.model_copy(update={"version": "2026-06", "published": dt.date(2026, 6, 1)})
    later = current.model_copy(update={"version": "2027-01", "published": dt.date(2027, 1, 1)})
    consent = definition.consent.model_copy(update={"texts": (current, newer, later)})
    definition = definition.model_copy(update={"consent": consent})
    assert latest_consent_text(definition, dt.date(2026, 7, 1)).version == "2026-06"
    assert latest_consent_text(definition, dt.date(2026, 2, 1)).version == current.version


def test_the_sla_is_stated_in_words_with_its_time_zone(db):
    definition = version_definition(Program.objects.get(slug="provider-education").active_version)
    assert sla_in_words(definition).startswith("within 1 business day, Monday–Friday 09:00–17:00 ")
    assert "America/New_York" in sla_in_words(definition)


def test_a_patient_support_referral_can_be_submitted_through_the_page(client):
    source = Source.objects.get(program__slug="patient-support", slug="patient-org")
    referrer = referrer_create(source=source, name="Lung Friends", actor="system:test")
    response = client.post(
        f"/r/{referrer.code}",
        {
            "request_type": "helpline_callback",
            "therapy_area": "oncology",
            "lead_given_name": "Robin",
            "lead_family_name": "Ashe",
            "lead_preferred_contact": "email",
            "lead_email": "robin@example.net",
            "lead_timezone": "America/Denver",
            "answer_reason_for_contact": "Would like a call about the co-pay card.",
            "consent_granted": "on",
            "consent_channels": ["email"],
            "consent_method": "self",
            "consent_text_version": "2026-01",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    referral = Referral.objects.get()
    assert referral.stage == Stage.QUEUED and referral.therapy_area == "oncology"
    assert referral.queue.slug == "patient-services"
    assert ConsentRecord.objects.get(referral=referral).channels == ["email"]


def test_a_web_referral_missing_a_required_item_is_accepted_and_the_gap_is_offered(
    client, coordinator
):
    response = client.post(f"/r/{coordinator.code}", trial_form_data(lead_preferred_contact=None))
    assert response.status_code == 200  # the form asks for the contact method on the spot
    assert Referral.objects.count() == 0
    # A required answer the referrer may not know yet: accepted, and the gap offered.
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(lead_timezone="", lead_phone="", lead_preferred_contact="email"),
    )
    referral = Referral.objects.get()
    assert referral.stage == Stage.NEEDS_INFO and referral.missing == ["lead.timezone"]
    page = Page(client.get(response["Location"]).content.decode())
    assert "Time zone" in Page.text(page.find("main")[0])
    link = [a for a in page.find("a") if "/complete/" in a["attrs"]["href"]]
    assert link and client.get(link[0]["attrs"]["href"]).status_code == 200


# -- GOV.UK error pattern: everything in the first round, the summary first and focused ---------


def _main_children(html: str) -> list[str]:
    """The tags of the elements directly inside <main>, in order."""

    class Children(HTMLParser):
        def __init__(self):
            super().__init__()
            self.depth, self.inside, self.tags = 0, False, []

        def handle_starttag(self, tag, attrs):
            if tag == "main":
                self.inside, self.depth = True, 0
                return
            if self.inside:
                if self.depth == 0:
                    self.tags.append((tag, dict(attrs)))
                if tag not in VOID:
                    self.depth += 1

        def handle_endtag(self, tag):
            if tag == "main":
                self.inside = False
            elif self.inside and tag not in VOID:
                self.depth -= 1

    parser = Children()
    parser.feed(html)
    return parser.tags


def test_the_error_page_starts_with_a_focused_summary_linking_each_field_and_an_error_title(
    client, coordinator
):
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(
            lead_given_name="",
            answer_age="old",
            consent_granted=None,
            lead_preferred_contact="email",
            lead_email="",
        ),
    )
    html = response.content.decode()
    page = Page(html)
    assert Page.text(page.find("title")[0]) == "Error: Refer to Trial prescreening"
    # First in the main content, so it is read first without JavaScript; focused on load.
    first_tag, first_attrs = _main_children(html)[0]
    assert (first_tag, first_attrs.get("id")) == ("div", "error-summary")
    assert first_attrs["tabindex"] == "-1" and "autofocus" in first_attrs
    assert page.find("script", src="/static/refdesk/error-summary.js")
    links = [a["attrs"]["href"] for a in page.find("a") if a["attrs"].get("href", "")[:4] == "#id_"]
    # One link per problem, in the order of the page, each to an element that exists.
    definition = version_definition(coordinator.source.program.active_version)
    lead_order = [f"#id_lead_{name}" for name in definition.intake.lead_fields]
    lead_links = sorted(["#id_lead_given_name", "#id_lead_email"], key=lead_order.index)
    assert links == [*lead_links, "#id_answer_age", "#id_consent_granted"]
    assert all(page.by_id(link[1:]) is not None for link in links)
    summary = Page.text(page.by_id("error-summary"))
    assert "Enter the given name." in summary
    assert "The person prefers email: give their email address" in summary
    # Everything typed is kept.
    assert page.by_id("id_lead_family_name")["attrs"]["value"] == "Quill"
    assert page.by_id("id_lead_phone")["attrs"]["value"] == "(617) 555-0142"
    assert "checked" in page.find("input", name="lead_preferred_contact", value="email")[0]["attrs"]
    assert "selected" in page.find("option", value="America/Chicago")[0]["attrs"]
    assert Referral.objects.count() == 0


def test_consent_field_and_cross_field_errors_all_come_in_the_first_round(client, coordinator):
    # Before: a field error stopped the form before the service looked at consent, so the
    # consent error appeared only on the second attempt.
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(
            lead_family_name="",
            consent_granted=None,
            lead_preferred_contact="sms",
            lead_phone="",
            consent_channels=[],
            consent_method=None,
        ),
    )
    page = Page(response.content.decode())
    in_error = {
        element["attrs"]["id"]
        for element in page.elements
        if element["attrs"].get("aria-invalid") == "true"
    }
    assert {"id_lead_family_name", "id_lead_phone", "id_consent_granted"} <= in_error
    assert "give their mobile number" in Page.text(page.by_id("id_lead_phone_error"))
    assert "Tick the box" in Page.text(page.by_id("id_consent_granted_error"))
    # Ticking the box and fixing the rest is then enough: no new error appears.
    second = client.post(f"/r/{coordinator.code}", trial_form_data())
    assert second.status_code == 302


def test_consent_ticked_without_channels_or_method_says_what_to_choose(client, coordinator):
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(consent_channels=[], consent_method=None, lead_given_name=""),
    )
    page = Page(response.content.decode())
    summary = Page.text(page.by_id("error-summary"))
    assert "Choose at least one way the person agrees to be contacted." in summary
    assert "Choose how the person gave their consent." in summary
    assert "Enter the given name." in summary
    assert "phone, email, sms" not in summary  # the API's words stay in the API


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"lead_preferred_contact": "email", "lead_email": ""},
            "id_lead_email",
            "The person prefers email: give their email address, or choose another way to "
            "contact them.",
        ),
        (
            {"lead_preferred_contact": "phone", "lead_phone": ""},
            "id_lead_phone",
            "The person prefers phone calls: give their phone number",
        ),
    ],
)
def test_a_contact_method_without_its_detail_is_refused_on_the_page(
    client, coordinator, overrides, field, message
):
    response = client.post(f"/r/{coordinator.code}", trial_form_data(**overrides))
    assert response.status_code == 200
    assert Referral.objects.count() == 0
    page = Page(response.content.decode())
    assert page.by_id(field)["attrs"]["aria-invalid"] == "true"
    assert message in Page.text(page.by_id(f"{field}_error"))


def test_a_phone_contact_without_a_time_zone_gets_it_worked_out_or_asked_for(client, coordinator):
    # A Chicago (312) number: worked out, and shown chosen when the page comes back for
    # another reason.
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(lead_timezone="", lead_phone="+1 312 555 0101", lead_given_name=""),
    )
    page = Page(response.content.decode())
    assert "selected" in page.find("option", value="America/Chicago")[0]["attrs"]
    assert page.by_id("id_lead_timezone")["attrs"].get("aria-invalid") is None
    accepted = client.post(
        f"/r/{coordinator.code}", trial_form_data(lead_timezone="", lead_phone="+1 312 555 0101")
    )
    assert accepted.status_code == 302
    assert Referral.objects.get().lead_timezone == "America/Chicago"
    # A toll-free number in a country of many zones: asked for on the spot.
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(lead_timezone="", lead_phone="+1 800 555 0199", lead_given_name="Bo"),
    )
    page = Page(response.content.decode())
    assert page.by_id("id_lead_timezone")["attrs"]["aria-invalid"] == "true"
    assert "Choose the person's time zone" in Page.text(page.by_id("id_lead_timezone_error"))
    assert Referral.objects.count() == 1


def test_request_types_are_radios_with_the_programs_labels_and_hints(client):
    referrer = make_referrer("provider-education", "hcp-referral")
    page = Page(client.get(f"/r/{referrer.code}").content.decode())
    definition = version_definition(Program.objects.get(slug="provider-education").active_version)
    assert not page.find("select", name="request_type")
    radios = page.find("input", name="request_type", type="radio")
    assert [r["attrs"]["value"] for r in radios] == list(definition.request_types)
    for radio, spec in zip(radios, definition.request_types.values(), strict=True):
        assert page.label_for(radio["attrs"]["id"]) == spec.label
        hint = page.by_id(radio["attrs"]["aria-describedby"])
        assert Page.text(hint) == spec.description
    assert "clinical_question" not in Page.text(page.find("main")[0])  # no raw codes


def test_one_choice_is_shown_as_text_not_a_select(client, coordinator):
    page = Page(client.get(f"/r/{coordinator.code}").content.decode())
    # The trial has one request type and one study: nothing to choose.
    assert not page.find("select", name="request_type")
    assert not page.find("input", name="request_type")
    assert "Trial prescreen" in Page.text(page.by_id("id_request_type"))
    assert not page.find("select", name="answer_study_id")
    assert "RDX-301 (advanced NSCLC)" in Page.text(page.by_id("id_answer_study_id"))
    for select in page.find("select"):
        options = [o for o in page.elements if o["tag"] == "option"]
        assert len(options) > 2, select["attrs"]["name"]
    # ...and the submission still carries them.
    assert client.post(f"/r/{coordinator.code}", trial_form_data()).status_code == 302
    referral = Referral.objects.get()
    assert referral.request_type == "trial_prescreen"
    assert referral.answers["study_id"] == "RDX-301"


def test_the_time_zone_list_is_curated_with_the_programs_country_first(client, coordinator):
    page = Page(client.get(f"/r/{coordinator.code}").content.decode())
    values = [o["attrs"]["value"] for o in page.find("option") if o["attrs"].get("value") != ""]
    zones = [v for v in values if "/" in v]
    groups = [g["attrs"]["label"] for g in page.find("optgroup")]
    assert groups[0] == "United States"
    assert zones[:5] == [
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
    ]
    assert page.label_for("id_lead_timezone").startswith("Time zone")
    first_option = next(o for o in page.find("option") if o["attrs"].get("value") == "")
    assert Page.text(first_option) == "Work it out from the phone number or country"
    assert "Europe/London" in zones and "Asia/Tokyo" in zones
    assert len(zones) == len(set(zones))
    for deprecated in ("US/Eastern", "Etc/GMT+5", "EST5EDT", "GB", "UTC"):
        assert deprecated not in values
    assert not [v for v in zones if v.startswith(("Etc/", "US/", "posix/", "right/"))]
    eastern = next(o for o in page.find("option") if o["attrs"].get("value") == "America/New_York")
    assert Page.text(eastern) == "Eastern time (New York)"
