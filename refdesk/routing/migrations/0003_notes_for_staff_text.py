import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Staff free text leaves the routing tables for encrypted referral notes: a re-route's
    reason (``RoutingDecision.note``) and a reviewer's note (``Review.written_note``, renamed to
    ``note`` once the old text column is gone)."""

    dependencies = [
        ("routing", "0002_add_decisions_reviews_notices"),
        ("intake", "0005_add_notes_sla_pause_duplicate_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="routingdecision",
            name="note",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="intake.referralnote",
            ),
        ),
        migrations.AddField(
            model_name="review",
            name="written_note",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="intake.referralnote",
            ),
        ),
    ]
