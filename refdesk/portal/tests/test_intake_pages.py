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
from refdesk.testing import latest_consent_version, make_referrer

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
            if spec.example:
                assert f"Example: {spec.example}" in Page.text(page.by_id(f"{field_id}_helptext"))
        for name, spec in definition.intake.answers.items():
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
    for patient_value in ("Avery", "Quill", "avery.quill", "555", "0142", "1970", "Chicago"):
        assert patient_value not in html
        assert patient_value not in location
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
        assert any(d is not None and d["tag"] == "ul" and Page.text(d) for d in described)
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
    assert "This is not a valid email address." in messages
    assert Referral.objects.count() == 0


def test_a_missing_consent_is_reported_on_the_consent_box(client, coordinator):
    response = client.post(f"/r/{coordinator.code}", trial_form_data(consent_granted=None))
    page = Page(response.content.decode())
    box = page.by_id("id_consent_granted")
    assert box["attrs"]["aria-invalid"] == "true"
    error = page.by_id("id_consent_granted_error")
    assert "needs the lead's consent" in Page.text(error)
    assert Referral.objects.count() == 0


def test_a_filled_honeypot_looks_accepted_but_writes_nothing(client, coordinator):
    response = client.post(f"/r/{coordinator.code}", trial_form_data(website="http://spam"))
    assert response.status_code == 200
    assert b"your referral has been received" in response.content
    assert b"RF-" not in response.content
    assert Referral.objects.count() == 0


@time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, 5, tzinfo=dt.UTC), tick=False)
def test_too_many_requests_from_one_address_get_429(client, coordinator, settings):
    settings.REFDESK_RATE_LIMITS = {"intake.address": (3, 60)}
    responses = [client.get(f"/r/{coordinator.code}") for _ in range(4)]
    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert responses[-1]["Retry-After"] == "55"
    assert b"Too many requests" in responses[-1].content
    other = Client(REMOTE_ADDR="10.9.9.9")
    assert other.get(f"/r/{coordinator.code}").status_code == 200
    with time_machine.travel(dt.datetime(2026, 3, 2, 15, 1, 1, tzinfo=dt.UTC)):
        assert client.get(f"/r/{coordinator.code}").status_code == 200  # a new window


@time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, 5, tzinfo=dt.UTC), tick=False)
def test_the_confirmation_still_shows_after_the_address_limit_is_reached(
    client, coordinator, settings
):
    # form, post, confirmation: the referrer must always get to see the reference
    settings.REFDESK_RATE_LIMITS = {"intake.address": (2, 60)}
    assert client.get(f"/r/{coordinator.code}").status_code == 200
    location = client.post(f"/r/{coordinator.code}", trial_form_data())["Location"]
    assert client.get(f"/r/{coordinator.code}").status_code == 429  # the form is limited
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
        assert patient_value not in html


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
    assert [value for value, _ in form.fields["request_type"].choices] == ["clinical_question"]
    full = IntakeForm(definition=definition, source_slug="hcp-referral", consent_text=None)
    assert len(full.fields["request_type"].choices) == 1 + len(definition.request_types)


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


def test_a_web_referral_missing_the_contact_detail_is_accepted_and_the_gap_is_offered(
    client, coordinator
):
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(lead_preferred_contact="email", lead_email="", lead_phone=""),
    )
    referral = Referral.objects.get()
    assert referral.stage == Stage.NEEDS_INFO and referral.missing == ["lead.email"]
    page = Page(client.get(response["Location"]).content.decode())
    assert "Email address" in Page.text(page.find("main")[0])
    link = [a for a in page.find("a") if "/complete/" in a["attrs"]["href"]]
    assert link and client.get(link[0]["attrs"]["href"]).status_code == 200
