from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("consent", "0003_consent_events_from_stamps")]

    operations = [
        migrations.RemoveField(model_name="consentrecord", name="withdrawn_at"),
        migrations.RemoveField(model_name="consentrecord", name="withdrawal_reason"),
    ]
