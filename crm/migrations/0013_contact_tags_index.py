"""The contact list's tag filter is index-backed (PostgreSQL only; a no-op on SQLite).

`tags @> '["vip"]'` (`crm.selectors.contact_pages._filter_tag`) is answered by a jsonb_path_ops GIN index, so a
rare tag is found without reading the organization's contacts; a common one is read along the name index the
list is ordered by. A small pending list bounds what a filter scans after a burst of inserts (an initial pull).
"""
from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS crm_contact_tags_gin ON crm_contact USING gin (tags jsonb_path_ops) "
    "WITH (gin_pending_list_limit = 256)",
]
BACKWARD = ["DROP INDEX IF EXISTS crm_contact_tags_gin"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("crm", "0012_outbox_causes_request_ids")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
