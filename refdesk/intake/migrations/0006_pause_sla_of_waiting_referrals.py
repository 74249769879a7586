"""Referrals already waiting on their referrer get a paused first-response clock.

Before this release the clock was never paused; a referral in needs_info has been waiting since
it was received (never routed) or since its last change (information requested after routing).
"""

from django.db import migrations
from django.db.models import F


def pause(apps, schema_editor):
    Referral = apps.get_model("intake", "Referral")
    waiting = Referral.objects.filter(stage="needs_info", sla_paused_at__isnull=True)
    waiting.filter(routed_at__isnull=True).update(sla_paused_at=F("received_at"))
    waiting.filter(routed_at__isnull=False).update(sla_paused_at=F("updated_at"))


def unpause(apps, schema_editor):
    Referral = apps.get_model("intake", "Referral")
    Referral.objects.update(sla_paused_at=None, sla_paused_seconds=0)


class Migration(migrations.Migration):
    dependencies = [("intake", "0005_add_notes_sla_pause_duplicate_keys")]

    operations = [migrations.RunPython(pause, unpause)]
