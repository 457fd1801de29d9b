"""Name resolution against the mirror: accents, case, nicknames, typos, two Janes, and the exact keys."""
import pytest

from agents.tools.errors import ToolError
from agents.tools.resolve import contact_resolve, contact_search, fold

pytestmark = pytest.mark.django_db


def test_fold_removes_case_accents_and_punctuation():
    assert fold("  José  O'Brien-ÅNGSTRÖM ") == "jose o brien angstrom"


@pytest.mark.parametrize("query, expected", [
    ("jane doe", "Jane Doe"),
    ("JANE DOE", "Jane Doe"),
    ("Doe Jane", "Jane Doe"),
    ("Jnae Doe", "Jane Doe"),            # a typo
    ("Jane Deo", "Jane Doe"),
    ("jose garcia", "José García"),      # accents left out
    ("José Garcia", "José García"),
    ("Zoe Angstrom", "Zoë Ångström"),
    ("Bob Fischer", "Robert Fischer"),   # a nickname
    ("Rob Fisher", "Robert Fischer"),    # a nickname and a typo
    ("García", "José García"),           # one part, unique
])
def test_a_name_resolves_to_the_one_person_it_means(org, people, query, expected):
    match = contact_resolve(organization=org, ref=query)
    assert match.contact == people[expected] and match.matched_by == "name"


def test_two_janes_are_ambiguous_with_what_tells_them_apart(org, people):
    with pytest.raises(ToolError) as exc:
        contact_resolve(organization=org, ref="Jane")
    error = exc.value.as_error()
    assert error["code"] == "ambiguous" and error["field"] == "contact"
    assert {c["name"] for c in error["candidates"]} == {"Jane Doe", "Jane Smith"}
    assert "email" in error["message"] and "city" in error["message"]


@pytest.mark.parametrize("ref, expected", [
    ("jane.doe@example.com", "Jane Doe"),
    ("JANE.SMITH@example.com", "Jane Smith"),
    ("(503) 555-0101", "Jane Doe"),
    ("503.555.0102", "Jane Smith"),
    ("+1 503 555 0103", "José García"),
])
def test_email_and_phone_in_any_format(org, people, ref, expected):
    match = contact_resolve(organization=org, ref=ref)
    assert match.contact == people[expected] and match.matched_by in ("email", "phone")


def test_local_id(org, people):
    jane = people["Jane Doe"]
    assert contact_resolve(organization=org, ref=str(jane.pk)).contact == jane


def test_nothing_close_is_not_found_never_a_guess(org, people):
    for ref in ("Quentin Tarantino", "nobody@example.com", "+15039999999", "999999"):
        with pytest.raises(ToolError) as exc:
            contact_resolve(organization=org, ref=ref)
        assert exc.value.code == "not_found"


def test_another_organizations_people_are_not_found(org, org_factory, people):
    other = org_factory("Other")
    for ref in ("Jane Doe", "jane.doe@example.com", str(people["Jane Doe"].pk)):
        with pytest.raises(ToolError) as exc:
            contact_resolve(organization=other, ref=ref)
        assert exc.value.code == "not_found"


def test_search_lists_best_first(org, people):
    names = [m.contact.full_name for m in contact_search(organization=org, query="jane", limit=5)]
    assert set(names[:2]) == {"Jane Doe", "Jane Smith"}
