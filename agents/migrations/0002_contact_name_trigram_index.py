"""Index-backed fuzzy name lookups for the agent tools (PostgreSQL only; SQLite folds names in Python).

`agents_name_fold(text)` folds case and accents (unaccent, wrapped as IMMUTABLE so an index may use it), and a
pg_trgm GIN index on `agents_name_fold(crm_contact.full_name)` serves the `%` (whole name) and `<%` (one word)
candidate searches of `agents/tools/resolve.py`. A small pending list (256 kB instead of 4 MB) bounds what a
search must scan after a burst of inserts (an initial pull) before it is merged into the index. pg_trgm and
unaccent are trusted extensions: a database owner may create them.
"""
from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    """CREATE OR REPLACE FUNCTION agents_name_fold(value text) RETURNS text
       LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
       AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, value)) $$""",
    "CREATE INDEX IF NOT EXISTS agents_contact_name_trgm ON crm_contact USING gin (agents_name_fold(full_name) "
    "gin_trgm_ops) WITH (gin_pending_list_limit = 256)",
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
