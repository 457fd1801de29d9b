"""Turning what an agent says ("Jane Doe", "jane@x.com", "(503) 555-0142", a GHL id) into one local record.

Every resolver reads the local mirror only, scoped to the organization, and either returns one record with how
it was matched, or raises `not_found` / `ambiguous` (up to 5 candidates and what tells them apart): never a
guess. Resolvers of other kinds (opportunities, stages, calendars, users) go beside `contact_resolve`, reusing
`fold`, `name_score` and `ambiguous_error`.

Name lookups are index-backed: on PostgreSQL a pg_trgm GIN index on `agents_name_fold(full_name)` (migration
`agents/0002_contact_name_trigram_index`) yields a bounded set of candidates, and rapidfuzz scores those few;
on SQLite (development) the names are folded and scored in Python.
"""
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from rapidfuzz import fuzz

from crm.models import Contact, ExternalIdentity
from crm.phones import normalize_phone
from crm.selectors.contacts import contact_list
from tenancy.models import Organization

from .errors import ToolError
from .nicknames import name_alternatives

MAX_CANDIDATES = 5
MATCH_THRESHOLD = 72      # below this a name is not considered a match at all
CLOSE_MARGIN = 6          # candidates within this many points of the best are "just as likely"
SQL_CANDIDATES = 20       # nearest whole names fetched per variant
SQL_WORD_CANDIDATES = 40  # rows holding a one-word query, per variant
# pg_trgm similarity floors of the index search (this transaction only): pg_trgm's 0.3 for short names, where
# one typo costs a large share of the trigrams; tighter for longer ones, where 0.3 lets every "Maria …" in.
SHORT_NAME_CHARS, SHORT_NAME_FLOOR, NAME_FLOOR = 10, 0.3, 0.4
SQLITE_SCAN_LIMIT = 50_000
LOCAL_ID_MAX_DIGITS = 6   # longer digit strings are phone numbers
GHL_ID = re.compile(r"^[A-Za-z0-9]{16,32}$")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation as spaces: "José  O'Brien" -> "jose o brien"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return " ".join(_NON_ALNUM.sub(" ", plain).split())


def query_variants(query: str) -> list[str]:
    """The folded query and its nickname variants ("bob smith" -> also "robert smith")."""
    tokens = fold(query).split()
    variants = [" ".join(tokens)]
    for i, token in enumerate(tokens):
        for alt in sorted(name_alternatives(token)):
            variants.append(" ".join([*tokens[:i], alt, *tokens[i + 1:]]))
    return list(dict.fromkeys(v for v in variants if v))[:8]


def name_score(query_variants_: list[str], name: str) -> float:
    """0..100: how well a stored name matches the query (typos, word order, a part of the name)."""
    target = fold(name)
    if not target:
        return 0.0
    best = 0.0
    for i, variant in enumerate(query_variants_):
        whole = fuzz.token_sort_ratio(variant, target)
        part = fuzz.token_set_ratio(variant, target) - 2  # "Jane" in "Jane Doe": likely, not certain
        score = max(whole, part) - (3 if i else 0)      # a nickname is a little less certain than the name
        best = max(best, score)
    return round(best, 1)


@dataclass
class Match:
    contact: Contact
    score: float
    matched_by: str  # id, ghl_id, email, phone, name


def _distinguishing(contacts: Iterable[Contact]) -> list[str]:
    contacts = list(contacts)
    fields = ["email", "phone", "company_name", "city"]
    return [f for f in fields if len({getattr(c, f) for c in contacts}) > 1]


def contact_candidate(contact: Contact, score: float | None = None) -> dict[str, Any]:
    return {"contact_id": contact.pk, "name": contact.full_name, "email": contact.email, "phone": contact.phone,
            "company_name": contact.company_name, "city": contact.city,
            **({"score": score} if score is not None else {})}


def ambiguous_error(*, what: str, query: str, matches: list[Match]) -> ToolError:
    shown = matches[:MAX_CANDIDATES]
    differ = _distinguishing(m.contact for m in shown)
    by = f" They differ by {', '.join(differ)}." if differ else ""
    return ToolError(
        "ambiguous", f"{len(matches)} {what}s match “{query}” about equally well.{by}",
        field="contact", candidates=[contact_candidate(m.contact, m.score) for m in shown],
        hint="Call again with the right candidate's contact_id (or its email / phone); ask the user if unsure.",
    )


# -- contacts ----------------------------------------------------------------------------------------------------
def _by_local_id(organization: Organization, query: str) -> list[Match]:
    if query.isdigit() and len(query) <= LOCAL_ID_MAX_DIGITS:
        contact = contact_list(organization=organization).filter(pk=int(query)).first()
        return [Match(contact, 100.0, "id")] if contact else []
    return []


def _by_external_id(organization: Organization, query: str) -> list[Match]:
    if not GHL_ID.match(query):
        return []
    ct = ContentType.objects.get_for_model(Contact)
    ids = (ExternalIdentity.objects.for_org(organization).filter(content_type=ct, external_id=query)
           .values_list("object_id", flat=True))
    return [Match(c, 100.0, "ghl_id") for c in contact_list(organization=organization).filter(pk__in=list(ids))]


def _by_email(organization: Organization, query: str) -> list[Match]:
    if "@" not in query:
        return []
    email = query.strip().lower()
    qs = contact_list(organization=organization)
    found = list(qs.filter(email=email).order_by("id")[:MAX_CANDIDATES + 1])
    if not found:
        # the partial index crm_contact_org_more_ids: only contacts that have additional emails or phones
        more = qs.filter(~Q(additional_emails=[], additional_phones=[]))
        found = [c for c in more.filter(additional_emails__icontains=email)[:50] if email in c.additional_emails]
    return [Match(c, 100.0, "email") for c in found]


def _by_phone(organization: Organization, query: str) -> list[Match]:
    digits = re.sub(r"\D", "", query)
    if len(digits) < 7 or re.search(r"[A-Za-z]{2,}", query):
        return []
    try:
        e164 = normalize_phone(query, default_region=organization.default_phone_region)
    except ValidationError:
        return []
    if not e164:
        return []
    qs = contact_list(organization=organization)
    found = list(qs.filter(phone=e164).order_by("id")[:MAX_CANDIDATES + 1])
    if not found:
        more = qs.filter(~Q(additional_emails=[], additional_phones=[]))
        found = [c for c in more.filter(additional_phones__icontains=e164)[:50] if e164 in c.additional_phones]
    return [Match(c, 100.0, "phone") for c in found]


def _name_candidate_ids(organization: Organization, variants: list[str]) -> list[int]:
    if connection.vendor == "postgresql":
        # Through the GIN trigram index. A name of several words: the nearest whole names over a similarity
        # floor (few rows share most trigrams of two words). One word ("Jane"): rows having it as a word, not
        # ordered, so a common first name costs LIMIT rows, not every match; rapidfuzz ranks what comes back.
        # Per statement, one similarity floor: short names lose more of their trigrams to one typo.
        groups: dict[float, tuple[list[str], list[Any]]] = {}
        for variant in variants:
            floor = SHORT_NAME_FLOOR if len(variant) <= SHORT_NAME_CHARS else NAME_FLOOR
            parts, params = groups.setdefault(floor, ([], []))
            if " " in variant:
                parts.append("(SELECT id FROM crm_contact WHERE organization_id = %s AND NOT is_archived AND "
                             "agents_name_fold(full_name) %% %s ORDER BY agents_name_fold(full_name) <-> %s "
                             "LIMIT %s)")
                params += [organization.pk, variant, variant, SQL_CANDIDATES]
            else:
                parts.append("(SELECT id FROM crm_contact WHERE organization_id = %s AND NOT is_archived AND "
                             "%s <%% agents_name_fold(full_name) LIMIT %s)")
                params += [organization.pk, variant, SQL_WORD_CANDIDATES]
        ids: list[int] = []
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL pg_trgm.word_similarity_threshold = 0.6")
            for floor, (parts, params) in groups.items():
                cursor.execute("SELECT set_config('pg_trgm.similarity_threshold', %s, true)", [str(floor)])
                cursor.execute(" UNION ".join(parts), params)
                ids += [row[0] for row in cursor.fetchall()]
        return list(dict.fromkeys(ids))
    # SQLite (development only): no trigram index and no accent folding in SQL, so the names are read and
    # folded here. Fine for a demo's few thousand contacts; production runs on PostgreSQL.
    rows = contact_list(organization=organization).values_list("id", "full_name")[:SQLITE_SCAN_LIMIT]
    scored = sorted(((name_score(variants, name), pk) for pk, name in rows), reverse=True)
    return [pk for score, pk in scored[:SQL_CANDIDATES * 2] if score >= MATCH_THRESHOLD]


def contact_search(*, organization: Organization, query: str, limit: int = MAX_CANDIDATES) -> list[Match]:
    """Contacts matching `query` (id, GHL id, email, phone or name), best first; exact keys win outright."""
    query = " ".join((query or "").split())
    if not query:
        return []
    for finder in (_by_local_id, _by_external_id, _by_email, _by_phone):
        exact = finder(organization, query)
        if exact:
            return exact[:limit]
    variants = query_variants(query)
    if not variants:
        return []
    ids = _name_candidate_ids(organization, variants)
    contacts = Contact.objects.for_org(organization).filter(pk__in=ids)
    scored = [Match(c, name_score(variants, c.full_name or f"{c.first_name} {c.last_name}"), "name")
              for c in contacts]
    scored = [m for m in scored if m.score >= MATCH_THRESHOLD]
    scored.sort(key=lambda m: (-m.score, m.contact.pk))
    return scored[:limit]


def contact_resolve(*, organization: Organization, ref: str | int) -> Match:
    """Exactly one active contact for `ref`, or `not_found` / `ambiguous`. Another organization's ids are
    simply not found: the answer is the same as for an id that does not exist."""
    query = str(ref).strip()
    if not query:
        raise ToolError("invalid", "`contact` is empty.", field="contact",
                        hint="Give a name, an email, a phone number, a contact_id or a GHL contact id.")
    matches = contact_search(organization=organization, query=query, limit=MAX_CANDIDATES + 1)
    if not matches:
        raise ToolError("not_found", f"No contact matches “{query}”.", field="contact",
                        hint="Check the spelling, try the email or phone, or call find_contact with part of "
                             "the name; create_contact adds a new person.")
    best = matches[0]
    close = [m for m in matches if m.score >= best.score - CLOSE_MARGIN]
    if len(close) > 1:
        raise ambiguous_error(what="contact", query=query, matches=close)
    return best
