"""Index-backed fuzzy name lookups for the agent tools (PostgreSQL only; SQLite uses a plain filter).

`agents_name_fold(text)` folds case and accents (unaccent, wrapped as IMMUTABLE so an index may use it), and a
pg_trgm GIN index on `agents_name_fold(crm_contact.full_name)` serves `%` / `<%` candidate searches
(`agents/tools/resolve.py`). pg_trgm and unaccent are trusted extensions: a database owner may create them.
"""
from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    """CREATE OR REPLACE FUNCTION agents_name_fold(value text) RETURNS text
       LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
       AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$""",
    "CREATE INDEX IF NOT EXISTS agents_contact_name_trgm ON crm_contact USING gin (agents_name_fold(full_name) "
    "gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS agents_contact_name_trgm",
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
