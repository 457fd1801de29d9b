"""Email addresses are stored stripped and lower-cased, and only when Django's `validate_email` accepts them."""
import functools

from django.core.exceptions import ValidationError
from django.core.validators import validate_email


@functools.lru_cache(maxsize=8192)
def email_is_valid(email: str) -> bool:
    """Does `validate_email` accept ``email``? Cached: a synced address is checked when it is mapped and again
    when the contact fields are cleaned, and `validate_email`'s regular expressions are a noticeable part of
    a bulk page (about 10 µs an address)."""
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True
