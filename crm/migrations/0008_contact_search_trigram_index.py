"""Index-backed contact search for the owner's contact list (PostgreSQL only; a no-op on SQLite).

`crm_contact_search_text(full_name, email, phone, company_name)` is the lower-cased text the list searches
(IMMUTABLE, so an index may use it); a pg_trgm GIN index on it answers `LIKE '%…%'` for any three or more
characters without reading the organization's contacts (`crm.selectors.contact_pages.contact_search`). A small
pending list bounds what a search scans after a burst of inserts (an initial pull).
"""
from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE OR REPLACE FUNCTION crm_contact_search_text(full_name text, email text, phone text, company text)
       RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
       AS $$ SELECT lower(coalesce(full_name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '')
                          || ' ' || coalesce(company, '')) $$""",
    "CREATE INDEX IF NOT EXISTS crm_contact_search_trgm ON crm_contact USING gin "
    "(crm_contact_search_text(full_name, email, phone, company_name) gin_trgm_ops) "
    "WITH (gin_pending_list_limit = 256)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS crm_contact_search_trgm",
    "DROP FUNCTION IF EXISTS crm_contact_search_text(text, text, text, text)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("crm", "0007_calendars_rules_and_appointment_requests")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
