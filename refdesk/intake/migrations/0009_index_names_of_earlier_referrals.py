"""Name tokens for every referral received before name search existed, so an upgraded
installation (the demo after ``make run`` included) finds them by name at once.

Migrations do not import app code: the normalisation and digest are copied here from
``refdesk.core.crypto`` (``name_words``, ``name_prefixes``, ``name_token_digest``) and the
name fields from ``refdesk.intake.name_tokens``; a test keeps the copies equal. Later changes
of the blind-index key are handled by ``refdesk names reindex``, not by a migration.
"""

import hashlib
import hmac
import unicodedata

from django.conf import settings
from django.db import migrations

MIN, MAX, BYTES = 3, 24, 16
NAME_FIELDS = ("given_name", "family_name", "name", "organization")


def name_words(value) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", str(value or ""))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words = []
    for chunk in plain.split():
        runs = "".join(ch if ch.isalpha() else " " for ch in chunk).split()
        words += runs
        if len(runs) > 1:
            words.append("".join(runs))
    return [word[:MAX] for word in words if len(word) >= MIN]


def lead_name_digests(lead) -> set[bytes]:
    key = hmac.new(
        settings.BLIND_INDEX_KEY.encode(), b"refdesk.intake.name_tokens.v1", hashlib.sha256
    ).digest()
    words = [w for field in NAME_FIELDS if (lead or {}).get(field) for w in name_words(lead[field])]
    prefixes = {word[:end] for word in words for end in range(MIN, len(word) + 1)}
    return {hmac.new(key, p.encode(), hashlib.sha256).digest()[:BYTES] for p in prefixes}


def index(apps, schema_editor):
    Referral = apps.get_model("intake", "Referral")
    NameToken = apps.get_model("intake", "NameToken")
    rows = []
    # The historical model's lead field decrypts as the real one does.
    for referral in (
        Referral.objects.only("id", "lead", "received_at").order_by("id").iterator(chunk_size=1000)
    ):
        rows += [
            NameToken(referral_id=referral.id, digest=digest, received_at=referral.received_at)
            for digest in sorted(lead_name_digests(referral.lead))
        ]
        if len(rows) >= 5000:
            NameToken.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
            rows = []
    NameToken.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def unindex(apps, schema_editor):
    apps.get_model("intake", "NameToken").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("intake", "0008_add_name_token")]

    operations = [migrations.RunPython(index, unindex)]
