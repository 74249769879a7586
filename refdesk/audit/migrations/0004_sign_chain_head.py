"""Sign an existing chain head with the audit key, so `refdesk audit verify` can authenticate it.

Run `refdesk audit verify` before this migration: it signs whatever head it finds. A database
without a head row (no audit event yet) is left as it is; the first event creates a signed one.
"""

import hashlib
import hmac

from django.conf import settings
from django.db import migrations

# A copy of refdesk.audit.services.head_mac as it was when this migration was written (migrations
# must not import app code, which may change later). Keep the two identical: the message is
# "refdesk.audit.head", the head's seq and its hash, one per line, HMAC-SHA256 with the audit key.
HEAD_DOMAIN = "refdesk.audit.head"


def _head_mac(seq, hash_):
    message = f"{HEAD_DOMAIN}\n{seq}\n{hash_}".encode()
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), message, hashlib.sha256).hexdigest()


def sign_head(apps, schema_editor):
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    db = schema_editor.connection.alias
    for head in AuditChainHead.objects.using(db).filter(pk=1):
        head.mac = _head_mac(head.seq, head.hash)
        head.save(update_fields=["mac"])


def unsign_head(apps, schema_editor):
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    AuditChainHead.objects.using(schema_editor.connection.alias).update(mac="")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_chain_head_mac")]

    operations = [migrations.RunPython(sign_head, unsign_head)]
