"""Index-backed fuzzy name lookups for the agent tools (PostgreSQL only; SQLite uses a plain filter).

`agents_name_fold(text)` folds case and accents (unaccent, wrapped as IMMUTABLE so an index may use it), and a
GiST index on `(organization_id, agents_name_fold(crm_contact.full_name) gist_trgm_ops)` serves nearest-neighbour
searches (`ORDER BY … <-> query LIMIT k`, and `<<->` for part of a name) inside one organization, whose cost
does not grow with the number of matching rows (`agents/tools/resolve.py`). pg_trgm, unaccent and btree_gist
(for the organization column) are trusted extensions: a database owner may create them.
"""
from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """CREATE OR REPLACE FUNCTION agents_name_fold(value text) RETURNS text
       LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
       AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$""",
    "CREATE INDEX IF NOT EXISTS agents_contact_org_name_trgm ON crm_contact USING gist (organization_id, "
    "agents_name_fold(full_name) gist_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS agents_contact_org_name_trgm",
    "DROP FUNCTION IF EXISTS agents_name_fold(text)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("crm", "0001_initial"),
    ]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
