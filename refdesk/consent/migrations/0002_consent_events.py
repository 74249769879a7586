import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Consent records become an append-only history of events (given, refused, withdrawn,
    expired), each with the permission in force after it."""

    dependencies = [
        ("consent", "0001_initial"),
        ("intake", "0005_add_notes_sla_pause_duplicate_keys"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="consentrecord",
            options={"ordering": ["referral", "recorded_at", "id"]},
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="event",
            field=models.CharField(
                choices=[
                    ("given", "Given"),
                    ("refused", "Refused"),
                    ("withdrawn", "Withdrawn"),
                    ("expired", "Expired"),
                ],
                default="given",
                max_length=20,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="withdrawn_purposes",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="withdrawn_channels",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("lead_request", "The lead asked to withdraw"),
                    ("referrer_reported", "The referrer reported the lead's withdrawal"),
                    ("recorded_in_error", "The consent was recorded in error"),
                ],
                max_length=30,
            ),
        ),
        migrations.AddField(
            model_name="consentrecord",
            name="note",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="intake.referralnote",
            ),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(fields=["referral", "recorded_at"], name="consent_referral_time"),
        ),
        migrations.AddIndex(
            model_name="consentrecord",
            index=models.Index(
                condition=models.Q(("expires_at__isnull", False), ("granted", True)),
                fields=["expires_at"],
                name="consent_expiry",
            ),
        ),
    ]
