"""Blind indexes of the NPI and of name + birth year for referrals still inside a duplicate
window, so duplicates match on a program's ``match_on`` keys from the first referral after the
upgrade, not only between referrals received after it.

Migrations do not import app code: the two indexes are copied here from ``refdesk.core.crypto``
(``npi_index``, ``name_index``); a test keeps the copies equal.
"""

import hashlib
import hmac
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def _blind_index(kind: str, normalised: str) -> str:
    message = f"{kind}:{normalised}".encode()
    return hmac.new(settings.BLIND_INDEX_KEY.encode(), message, hashlib.sha256).hexdigest()


def _name(value) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(value)).casefold().split())


def npi_index(value) -> str:
    digits = "".join(ch for ch in str(value or "") if ch.isascii() and ch.isdigit())
    return _blind_index("npi", digits) if digits else ""


def name_index(given, family, birth_year) -> str:
    if not (given and family and birth_year):
        return ""
    return _blind_index("name", f"{_name(given)}|{_name(family)}|{birth_year}")


def _longest_window(ProgramVersion) -> int:
    days = [
        (version.definition.get("duplicates") or {}).get("window_days", 30)
        for version in ProgramVersion.objects.only("definition").iterator()
    ]
    return max(days, default=30)


def index(apps, schema_editor):
    Referral = apps.get_model("intake", "Referral")
    ProgramVersion = apps.get_model("programs", "ProgramVersion")
    since = timezone.now() - timedelta(days=_longest_window(ProgramVersion))
    batch = []
    # The historical model's lead field decrypts as the real one does.
    for referral in Referral.objects.filter(received_at__gte=since).only("id", "lead").iterator(
        chunk_size=1000
    ):
        lead = referral.lead or {}
        referral.npi_index = npi_index(lead.get("npi"))
        referral.name_index = name_index(
            lead.get("given_name"), lead.get("family_name"), lead.get("birth_year")
        )
        if referral.npi_index or referral.name_index:
            batch.append(referral)
        if len(batch) >= 1000:
            Referral.objects.bulk_update(batch, ["npi_index", "name_index"])
            batch = []
    Referral.objects.bulk_update(batch, ["npi_index", "name_index"])


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0006_pause_sla_of_waiting_referrals"),
        ("programs", "0002_version_immutable_triggers"),
    ]

    operations = [migrations.RunPython(index, migrations.RunPython.noop)]
