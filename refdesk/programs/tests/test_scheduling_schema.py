"""The program file's ``scheduling`` block: each mistake is refused with one clear error at its
path and line (the loader's rules, as for every other block)."""

from __future__ import annotations

import pytest

from refdesk.programs.loader import load_program_text
from refdesk.programs.tests.test_program_schema import MINIMAL, errors_for, line_of

# A referrer template beside MINIMAL's lead template ``reply``: scheduling must not use it.
REFERRER_TEMPLATE = """\
  thanks:
    name: Thanks
    version: 1
    audience: referrer
    channels:
      email:
        subject: Thanks
        body: Thank you for the referral.
    approved_by: Review Board
    approved_on: 2026-01-01
    review_ref: RB-2
followup:
"""
SCHEDULING = """\
scheduling:
  appointment_types:
    call:
      label: Call with medical information
      duration_minutes: 20
      mode: phone
      request_types: [question]
    visit:
      label: Visit
      duration_minutes: 45
      mode: in_person
      location: 1 Main Street, Springfield
  confirmation_template: reply
  change_template: reply
  cancellation_template: reply
  reminder_template: reply
  reminders_hours_before: [24, 1]
  no_show:
    reschedule_template: reply
    manual_check: true
    manual_check_when: {request_type: question}
"""
SCHEDULING_PROGRAM = MINIMAL.replace("followup:\n", REFERRER_TEMPLATE, 1) + SCHEDULING


def changed(old: str, new: str) -> str:
    assert old in SCHEDULING, f"test setup: {old!r} not in the scheduling block"
    return SCHEDULING_PROGRAM.replace(old, new, 1)


def the_error(text: str, path: str) -> tuple[str, int | None]:
    """The one error at ``path``: (message, line)."""
    errors = errors_for(text)
    at_path = [e for e in errors if e.path == path]
    assert len(at_path) == 1, f"expected one error at {path!r}; got:\n" + "\n".join(
        map(str, errors)
    )
    return at_path[0].message, at_path[0].line


def test_a_program_with_scheduling_loads():
    program = load_program_text(SCHEDULING_PROGRAM, filename="programs/scheduling.yaml")
    rules = program.definition.scheduling
    assert list(rules.appointment_types) == ["call", "visit"]
    assert rules.appointment_types["visit"].location == "1 Main Street, Springfield"


def test_it_refuses_an_in_person_appointment_type_without_a_location():
    text = changed("      location: 1 Main Street, Springfield\n", "")
    message, line = the_error(text, "scheduling.appointment_types.visit")
    assert message == "an in_person appointment type needs a location"
    assert line == line_of(text, "    visit:")


def test_it_refuses_an_appointment_type_naming_an_unknown_request_type():
    text = changed("request_types: [question]", "request_types: [questions]")
    message, line = the_error(text, "scheduling.appointment_types.call.request_types[0]")
    assert message == "unknown request type 'questions' (defined: education, question)"
    assert line == line_of(text, "questions]")


@pytest.mark.parametrize(
    "key",
    [
        "confirmation_template",
        "change_template",
        "cancellation_template",
        "reminder_template",
        "reschedule_template",  # no_show's
    ],
)
def test_every_appointment_message_must_be_a_lead_template(key):
    text = changed(f"{key}: reply", f"{key}: thanks")
    path = f"scheduling.no_show.{key}" if key == "reschedule_template" else f"scheduling.{key}"
    message, line = the_error(text, path)
    assert message == (
        "template 'thanks' is for audience 'referrer', but this message goes to the lead"
    )
    assert line == line_of(text, f"{key}: thanks")


def test_it_refuses_an_unknown_appointment_template():
    text = changed("change_template: reply", "change_template: moved")
    message, _ = the_error(text, "scheduling.change_template")
    assert message == "unknown template 'moved' (defined: reply, thanks)"


def test_it_refuses_a_reminder_time_given_twice():
    text = changed("reminders_hours_before: [24, 1]", "reminders_hours_before: [24, 24]")
    message, _ = the_error(text, "scheduling.reminders_hours_before")
    assert message == "duplicate reminder time"


def test_it_refuses_a_manual_check_condition_without_manual_checks():
    text = changed("    manual_check: true\n", "")
    message, _ = the_error(text, "scheduling.no_show.manual_check_when")
    assert message == "manual_check_when needs manual_check: true"


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("mode: phone", "mode: carrier_pigeon", "scheduling.appointment_types.call.mode",
         "expected 'phone', 'video' or 'in_person'"),
        ("duration_minutes: 20", "duration_minutes: 0",
         "scheduling.appointment_types.call.duration_minutes",
         "expected greater than or equal to 1, got the number 0"),
        ("  reminders_hours_before: [24, 1]\n",
         "  reminders_hours_before: [24, 1]\n  buffer_minutes: -5\n",
         "scheduling.buffer_minutes", "greater than or equal to 0"),
    ],
    ids=["mode", "zero-length", "negative-buffer"],
)  # fmt: skip
def test_it_refuses_values_out_of_range(old, new, path, fragment):
    message, _ = the_error(changed(old, new), path)
    assert fragment in message


def test_an_offer_after_a_no_show_needs_its_template():
    text = changed(
        "  no_show:\n    reschedule_template: reply\n", "  no_show:\n    offer_reschedule: true\n"
    )
    message, _ = the_error(text, "scheduling.no_show.reschedule_template")
    assert message == "offer_reschedule needs the template of the offer"


def test_appointment_messages_must_be_approved_for_every_request_type_that_may_book():
    # "visit" is open to every request type; a confirmation approved for questions only would
    # be refused by the send check for an education lead's booking.
    lead_template = "    audience: lead\n    channels:"
    assert lead_template in SCHEDULING_PROGRAM
    text = SCHEDULING_PROGRAM.replace(
        lead_template, "    audience: lead\n    request_types: [question]\n    channels:", 1
    )
    message, _ = the_error(text, "scheduling.confirmation_template")
    assert message.startswith(
        "template 'reply' is not approved for request type(s) education, which may book"
    )
    # Limiting the visit to questions too makes it whole again.
    whole = text.replace(
        "      mode: in_person\n", "      mode: in_person\n      request_types: [question]\n"
    )
    load_program_text(whole, filename="programs/scheduling.yaml")  # valid
