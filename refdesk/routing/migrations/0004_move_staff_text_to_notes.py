"""Move staff free text into encrypted referral notes: reviewers' notes, re-route reasons, and
re-evaluation reasons a person typed (refdesk's own reasons are fixed phrases and stay)."""

from django.db import migrations

# Reasons refdesk itself gave re-evaluations before this release.
SYSTEM_REASONS = {"", "prescreen recorded", "review approved", "information supplied"}


def _note(ReferralNote, *, referral_id, kind, text, by, at):
    # The historical model's field encrypts on save, as the real one does.
    return ReferralNote.objects.create(
        referral_id=referral_id, kind=kind, text=text, written_by=by, written_at=at
    )


def forward(apps, schema_editor):
    ReferralNote = apps.get_model("intake", "ReferralNote")
    Review = apps.get_model("routing", "Review")
    RoutingDecision = apps.get_model("routing", "RoutingDecision")
    for review in Review.objects.exclude(note="").order_by("id"):
        review.written_note = _note(
            ReferralNote,
            referral_id=review.referral_id,
            kind="review",
            text=review.note,
            by=review.decided_by or "system:migration",
            at=review.decided_at or review.requested_at,
        )
        review.note = ""
        review.save(update_fields=["written_note", "note"])
    decisions = RoutingDecision.objects.exclude(reason__in=SYSTEM_REASONS).order_by("id")
    for decision in decisions:
        decision.note = _note(
            ReferralNote,
            referral_id=decision.referral_id,
            kind="reroute" if decision.kind == "reroute" else "answers",
            text=decision.reason,
            by=decision.decided_by,
            at=decision.decided_at,
        )
        decision.reason = ""
        decision.save(update_fields=["note", "reason"])


def backward(apps, schema_editor):
    Review = apps.get_model("routing", "Review")
    RoutingDecision = apps.get_model("routing", "RoutingDecision")
    for review in Review.objects.filter(written_note__isnull=False).select_related("written_note"):
        review.note = review.written_note.text
        review.written_note = None
        review.save(update_fields=["note", "written_note"])
    for decision in RoutingDecision.objects.filter(note__isnull=False).select_related("note"):
        decision.reason = decision.note.text
        decision.note = None
        decision.save(update_fields=["reason", "note"])


class Migration(migrations.Migration):
    dependencies = [("routing", "0003_notes_for_staff_text")]

    operations = [migrations.RunPython(forward, backward)]
