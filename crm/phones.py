"""Phone numbers are stored in E.164 (`+15035550142`), whatever format they arrive in."""
import functools

import phonenumbers
from django.core.exceptions import ValidationError

MAX_RAW_LENGTH = 40


def normalize_phone(raw: str | None, *, default_region: str = "US") -> str:
    """Return `raw` as E.164, or "" for an empty value.

    Numbers without a country code are read in `default_region` (the organization's). Anything that
    is not a possible, valid number raises `ValidationError` with a message a person can act on.
    """
    if raw is None:
        return ""
    value = str(raw).strip()
    if not value:
        return ""
    if len(value) > MAX_RAW_LENGTH:
        raise ValidationError("Phone number is too long.", code="phone_too_long")
    outcome = _to_e164(value, (default_region or "US").upper())
    if outcome == "unparseable":
        raise ValidationError(f"“{value}” is not a phone number.", code="phone_unparseable")
    if outcome == "invalid":
        raise ValidationError(
            f"“{value}” is not a valid phone number for region {default_region}; include the country code, "
            "e.g. +1 503 555 0142.",
            code="phone_invalid",
        )
    return outcome


@functools.lru_cache(maxsize=8192)
def _to_e164(value: str, region: str) -> str:
    """E.164 for ``value``, or "unparseable"/"invalid". Cached: a synced number is normalised several times
    (mapping, cleaning, matching) and `is_valid_number` is the slow part of a bulk page."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return "unparseable"
    if not _is_valid(parsed):
        return "invalid"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _is_valid(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, cheaper for the common case.

    `is_valid_number` first finds the number's region by trying each region of its country code, then
    validates against that region. The main region is always tried first and needs no leading-digits match,
    so a number valid for it is exactly one that `is_valid_number` finds there: checking it directly skips
    the search (half the cost of a valid US number); anything else gets the full check.
    """
    main_region = phonenumbers.region_code_for_country_code(number.country_code)
    return phonenumbers.is_valid_number_for_region(number, main_region) or phonenumbers.is_valid_number(number)
