"""Email addresses are stored stripped and lower-cased, and only when Django's `validate_email` accepts them."""
import functools

from django.core.validators import validate_email


@functools.lru_cache(maxsize=8192)
def email_is_valid(email: str) -> bool:
    """Does `validate_email` accept ``email``? Cached: a synced address is checked when it is mapped and again
    when the contact fields are cleaned.

    The same steps as `EmailValidator.__call__`, with its own patterns, but the domain's verdict is cached: its
    pattern is the slow part (an initial pull checks a hundred new addresses a page, mostly of a few domains).
    `tests/crm/test_emails.py` holds it to `validate_email` on generated addresses.
    """
    if not email or "@" not in email or len(email) > 320:
        return False
    user_part, domain_part = email.rsplit("@", 1)
    return validate_email.user_regex.match(user_part) is not None and _domain_is_valid(domain_part)


@functools.lru_cache(maxsize=1024)
def _domain_is_valid(domain_part: str) -> bool:
    return domain_part in validate_email.domain_allowlist or validate_email.validate_domain_part(domain_part)
