"""Existing records become events: a refusal where consent was not granted; a withdrawal stamp
(``withdrawn_at``) becomes a withdrawal event of its own, its free-text reason a staff note."""

from django.db import migrations


def to_events(apps, schema_editor):
    ConsentRecord = apps.get_model("consent", "ConsentRecord")
    ReferralNote = apps.get_model("intake", "ReferralNote")
    ConsentRecord.objects.filter(granted=False).update(event="refused")
    for record in ConsentRecord.objects.filter(withdrawn_at__isnull=False).order_by("id"):
        note = None
        if record.withdrawal_reason.strip():
            # The historical model's field encrypts on save, as the real one does.
            note = ReferralNote.objects.create(
                referral_id=record.referral_id,
                kind="consent",
                text=record.withdrawal_reason,
                written_by=record.recorded_by,
                written_at=record.withdrawn_at,
            )
        ConsentRecord.objects.create(
            referral_id=record.referral_id,
            event="withdrawn",
            granted=False,
            purposes=[],
            channels=[],
            method=record.method,
            text_version=record.text_version,
            text_hash=record.text_hash,
            recorded_at=record.withdrawn_at,
            recorded_by=record.recorded_by,
            withdrawn_purposes=record.purposes,
            withdrawn_channels=record.channels,
            reason="lead_request",
            note=note,
        )


def to_stamps(apps, schema_editor):
    ConsentRecord = apps.get_model("consent", "ConsentRecord")
    for withdrawal in ConsentRecord.objects.filter(event="withdrawn", granted=False):
        earlier = (
            ConsentRecord.objects.filter(
                referral_id=withdrawal.referral_id, recorded_at__lte=withdrawal.recorded_at
            )
            .exclude(pk=withdrawal.pk)
            .order_by("-recorded_at", "-id")
            .first()
        )
        if earlier is not None:
            earlier.withdrawn_at = withdrawal.recorded_at
            earlier.save(update_fields=["withdrawn_at"])
        withdrawal.delete()


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_consent_events")]

    operations = [migrations.RunPython(to_events, to_stamps)]
