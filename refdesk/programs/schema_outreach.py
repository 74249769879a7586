"""Schema models for what happens after routing: SLA, approved templates, follow-up, scheduling."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from refdesk.programs.schema_base import (
    AppointmentTypeId,
    Bool,
    CategoryId,
    Channel,
    ClockTime,
    Condition,
    Model,
    NonNegativeInt,
    PositiveInt,
    QueueId,
    RequestTypeId,
    TemplateId,
    Text,
    TherapyAreaId,
)

MaterialId = TemplateId  # same slug rules
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]


class ResponseTime(Model):
    """A duration in business time; give exactly one unit."""

    business_days: PositiveInt | None = Field(None, description="Whole business days.")
    business_hours: PositiveInt | None = Field(None, description="Business hours.")

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.business_days is None) == (self.business_hours is None):
            raise ValueError("give exactly one of business_days or business_hours")
        return self


class Escalation(Model):
    """Who hears about a breached SLA, and when."""

    after_breach_hours: NonNegativeInt = Field(description="Hours after the breach to escalate.")
    notify_queues: tuple[QueueId, ...] = Field((), description="Queues to alert.")
    notify_owner: Bool = Field(True, description="Also alert the program owner.")


class Sla(Model):
    """The promised time to first response; the clock pauses while a referral is in needs_info."""

    first_response: ResponseTime = Field(description="Time from receipt to first response.")
    escalation: Escalation | None = Field(None, description="What happens on breach.")


class Rendition(Model):
    """A template's wording for one channel; {placeholders} are filled at send time."""

    subject: Text | None = Field(None, description="Email and letter only.")
    body: Text = Field(description="The message, call script (phone) or letter text.")


# The placeholders a template may use; anything else is an error, so a message never goes out
# with a literal "{typo}" in it. answers.<id> is also allowed for non-sensitive answers.
PLACEHOLDERS: dict[str, str] = {
    "lead.given_name": "the lead's given name",
    "lead.family_name": "the lead's family name",
    "referrer.name": "the referrer's name",
    "referrer.organization": "the referrer's organisation",
    "program.name": "the program's name",
    "referral.reference": "the human-friendly referral reference",
    "referral.received_on": "the date of receipt, in the recipient's time zone",
    "request_type.label": "the request type's label",
    "therapy_area.label": "the therapy area's label",
    "team.name": "the name of the team handling the referral",
    "staff.name": "the name of the staff member sending or calling",
    "sla.first_response_due": "when the first response is due, in the recipient's time zone",
    "appointment.time": "appointment date and time with its time-zone note",
    "appointment.type": "the appointment type's label",
    "appointment.team_time": "the same time in the team's time zone, with its note",
    "appointment.location": "where it takes place, or how to join",
    "appointment.prepare": "what the lead should prepare",
    "links.materials": "link to the approved materials for the request type",
    "links.reschedule": "link to reschedule or cancel the appointment",
    "links.status": "link for the referrer to follow the referral's status",
}


class Template(Model):
    """An approved, versioned message. One approval covers all its channel renditions."""

    name: Text = Field(description="Display name.")
    version: PositiveInt = Field(description="Raise it whenever the wording changes.")
    audience: Literal["lead", "referrer", "staff"] = Field(description="Who receives it.")
    request_types: tuple[RequestTypeId, ...] = Field(
        (), description="The request types it is approved for; empty means any."
    )
    channels: dict[Channel, Rendition] = Field(
        min_length=1,
        description="The wording per channel (phone = call script, mail = letter). Lead "
        "messages go out on the consented or preferred channel, so cover each of those.",
    )
    language: Language = Field("en", description='The language of the wording ("en", "es-US").')
    content_category: CategoryId | None = Field(
        None,
        description="The content category it carries; omitted means the request type's. "
        "Clinician outreach may use only the categories followup.clinician_outreach allows.",
    )
    approved_by: Text = Field(description="Who approved this version (person or committee).")
    approved_on: dt.date = Field(description="Approval date.")
    review_ref: Text = Field(description="Reference of the medical/legal/regulatory review.")


class Material(Model):
    """An approved document or link (education material), versioned like a template; a
    message includes only approved, unexpired materials ({links.materials})."""

    title: Text = Field(description="The title shown to the recipient.")
    kind: Literal["document", "link"] = Field(description="A document (PDF) or a web page.")
    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$")] = Field(
        description="Where it is published (https)."
    )
    version: PositiveInt = Field(description="Raise it whenever the material changes.")
    request_types: tuple[RequestTypeId, ...] = Field(
        (), description="The request types it answers; empty means any."
    )
    therapy_areas: tuple[TherapyAreaId, ...] = Field(
        (), description="The therapy areas it is for; empty means any."
    )
    language: Language = Field("en", description="The material's language.")
    approved_by: Text = Field(description="Who approved this version (person or committee).")
    approved_on: dt.date = Field(description="Approval date.")
    review_ref: Text = Field(description="Reference of the medical/legal/regulatory review.")


class QuietHours(Model):
    """No message reaches a lead between start and end in the lead's own time zone."""

    start: ClockTime = Field("21:00", description="Quiet from (lead-local).")
    end: ClockTime = Field("08:00", description="Quiet until (lead-local).")


class ClinicianOutreach(Model):
    """The channels and content categories outreach to clinicians may use."""

    channels: tuple[Channel, ...] = Field(
        ("email", "phone"), description="Channels messages to clinicians may use."
    )
    content_categories: tuple[CategoryId, ...] | None = Field(
        None, description="Content categories that may be sent; omitted means every category."
    )


class Approvals(Model):
    """How long an approval of a template or material lasts."""

    valid_days: PositiveInt = Field(365, description="Days until re-approval is due.")
    warn_days: PositiveInt = Field(30, description="Owners are warned this many days before.")


class TemplateUse(Model):
    """A message the program sends by itself."""

    template: TemplateId = Field(description="The template (one of templates).")


class FirstOutreach(Model):
    """The first message to the lead, matched to the request type."""

    mode: Literal["automatic", "agent"] = Field(
        "agent",
        description="automatic: sent (for phone, a call task is created) once routing is done, "
        "consent allows it and no review is pending; agent: prepared for the agent to send.",
    )
    default_template: TemplateId | None = Field(
        None, description="Template for request types not listed below."
    )
    by_request_type: dict[RequestTypeId, TemplateId] = Field(
        {}, description="Template per request type."
    )


class Retry(Model):
    """Contact attempts before a lead is closed as unreachable."""

    attempts: PositiveInt = Field(description="Number of contact attempts.")
    window_days: PositiveInt = Field(description="Days from the first attempt to closing.")
    cadence_days: tuple[NonNegativeInt, ...] | None = Field(
        None,
        description="Day offset of each attempt from the first (starts at 0, increasing, within "
        "the window); omitted means spread evenly.",
    )
    then_outcome: Literal["unreachable"] = Field(
        "unreachable", description="The outcome when every attempt failed."
    )


class Followup(Model):
    """Messages and attempts after routing."""

    acknowledge_referrer: TemplateUse | None = Field(
        None, description="Automatic acknowledgement to the referrer; omitted means none."
    )
    first_outreach: FirstOutreach = Field(description="The first message to the lead.")
    retry: Retry = Field(description="The retry window.")
    quiet_hours: QuietHours = Field(
        QuietHours(), description="No messages to leads in these hours."
    )
    clinician_outreach: ClinicianOutreach = Field(
        ClinicianOutreach(), description="What outreach to clinician leads may use."
    )
    approvals: Approvals = Field(Approvals(), description="Re-approval of templates and materials.")
    high_value: Condition | None = Field(
        None,
        description="Which leads are high-value: a person checks them where others get "
        "automation only (an exhausted retry window closes others as unreachable).",
    )


class AppointmentType(Model):
    """Something that can be booked: a call, a video meeting or a visit."""

    label: Text = Field(description="Display name.")
    duration_minutes: PositiveInt = Field(description="Length of the appointment.")
    mode: Literal["phone", "video", "in_person"] = Field(description="How it takes place.")
    location: Text | None = Field(
        None,
        description="Where it takes place: the address of a visit (required for in_person) or "
        "how a video meeting is joined. Shown on the confirmation and in the invite.",
    )
    prepare: Text | None = Field(
        None, description="What the lead should prepare, shown on the confirmation."
    )
    request_types: tuple[RequestTypeId, ...] = Field(
        (), description="The request types that may book it; empty means any."
    )

    @model_validator(mode="after")
    def _visit_has_location(self):
        if self.mode == "in_person" and not self.location:
            raise ValueError("an in_person appointment type needs a location")
        return self


class NoShow(Model):
    """What happens when the lead misses an appointment."""

    offer_reschedule: Bool = Field(
        False, description="Send the lead a reschedule offer (needs reschedule_template)."
    )
    reschedule_template: TemplateId | None = Field(None, description="The offer's template.")
    manual_check: Bool = Field(False, description="Create a manual check task for staff.")
    manual_check_when: Condition | None = Field(
        None,
        description="Only for referrals matching this; omitted means every referral. "
        "High-value leads (followup.high_value) always get the check when manual_check is on.",
    )


class Scheduling(Model):
    """Booking calls, meetings or visits with leads.

    Availability: each team member's working hours (set in the console, in their own time
    zone) or, when a member has none, the program's business hours and holidays in the team's
    time zone; time off and team holidays set in the console are left out.
    """

    enabled: Bool = Field(True, description="Whether staff may schedule for this program.")
    appointment_types: dict[AppointmentTypeId, AppointmentType] = Field(
        min_length=1, description="What can be booked."
    )
    confirmation_template: TemplateId | None = Field(None, description="Booking confirmation.")
    change_template: TemplateId | None = Field(
        None, description="Sent with the updated invite when an appointment is rescheduled."
    )
    cancellation_template: TemplateId | None = Field(
        None, description="Sent with the cancelled invite when an appointment is cancelled."
    )
    reminder_template: TemplateId | None = Field(None, description="Reminder message.")
    reminders_hours_before: tuple[PositiveInt, ...] = Field(
        (24, 1),
        description="When reminders go out, in hours before the appointment. Whole days "
        "(24, 48, ...) keep the appointment's wall-clock time in the lead's time zone, across "
        "daylight-saving changes; a reminder that would fall in quiet hours goes before they "
        "start.",
    )
    buffer_minutes: NonNegativeInt = Field(
        10, description="Free time kept after each appointment before the next one."
    )
    slot_step_minutes: PositiveInt = Field(15, description="Slots start on this grid.")
    min_notice_hours: NonNegativeInt = Field(
        2, description="The earliest a lead can book: this many hours from now."
    )
    booking_window_days: PositiveInt = Field(21, description="How far ahead slots are offered.")
    change_cutoff_hours: NonNegativeInt = Field(
        1,
        description="A lead cannot reschedule or cancel within this many hours of the start "
        "(staff can, with a reason).",
    )
    max_reschedules: NonNegativeInt = Field(
        3, description="How often a lead may move one appointment through the link."
    )
    no_show: NoShow = Field(NoShow(), description="No-show handling.")
