"""`email_is_valid` (cached per address, the domain's verdict cached per domain) agrees with `validate_email`."""
import random
import string

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.emails import email_is_valid


def django_accepts(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


TRICKY = [
    "ann@example.com", "ANN@EXAMPLE.COM", "a.b+tag@sub.example.co.uk", "a..b@example.com", ".a@example.com",
    "a@example", "a@localhost", "a@[127.0.0.1]", "a@[IPv6:::1]", "a@[999.1.1.1]", "a@-example.com",
    "a@example-.com", "a@exa_mple.com", "a@münchen.de", "a@xn--mnchen-3ya.de", '"quoted user"@example.com',
    '"a\\"b"@example.com', "a@b@example.com", "@example.com", "a@", "", "a" * 64 + "@example.com",
    "a@" + "b" * 63 + ".com", "a@" + "b" * 64 + ".com", "a@" + ("b" * 60 + ".") * 5 + "com", "a" * 320 + "@x.com",
    "a@example.com.", "a@123.com", "a@example.c", "a@example.c0m", "a b@example.com", "a@exam ple.com",
    "ä@example.com", "a@example.comx\n", "a@example.com\n",
]


def test_tricky_addresses_agree():
    assert [(e, email_is_valid(e)) for e in TRICKY] == [(e, django_accepts(e)) for e in TRICKY]


def test_random_addresses_over_shared_domains_agree():
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + ".-_+!#'\"@ [](),:;<>\\äß"
    domains = ["example.com", "sub.example.org", "bad_domain.com", "x", "[10.0.0.1]", "-bad.com", "ok-ok.io"]
    emails = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) + "@" + rng.choice(domains)
              for _ in range(3000)]
    assert sum(map(django_accepts, emails)) > 300
    assert [e for e in emails if email_is_valid(e) != django_accepts(e)] == []


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=0, max_size=40), st.text(min_size=0, max_size=40))
def test_generated_addresses_agree(user, domain):
    email = f"{user}@{domain}"
    assert email_is_valid(email) == django_accepts(email)
