"""Phone numbers are stored in E.164 (`+15035550142`), whatever format they arrive in."""
import functools
import re

import phonenumbers
from django.core.exceptions import ValidationError
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import ValidationResult

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
    parsed = _parse_e164(value) if _E164_SHAPE.fullmatch(value) else None
    if parsed is None:
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            return "unparseable"
    if not _is_valid(parsed):
        return "invalid"
    # What `format_number(parsed, E164)` returns for a number `parse` made (no raw input kept), without its
    # dispatch on the format: "+", the country code, the national significant number.
    return f"+{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"


# "+" and 7 to 15 digits, nothing else: how GHL (and our own pushes) write every number.
_E164_SHAPE = re.compile(r"\+[1-9][0-9]{6,14}")


def _parse_e164(value: str) -> phonenumbers.PhoneNumber | None:
    """`phonenumbers.parse` for a number already in E.164 shape, or None to take the full parse.

    A synced page brings a hundred such numbers, and most of `parse`'s cost goes to steps that leave them
    unchanged (finding the number in free text, extensions, RFC 3966 contexts, normalising digits). This
    runs only the steps that can change one: the country code, then the national prefix, which `parse` strips
    when what remains still has a possible length. `tests/crm/test_phones.py` checks it gives what `parse`
    gives, for every region's example numbers and for random digits.
    """
    country_code, national = pnu._extract_country_code(value[1:])
    if not country_code:
        return None  # `parse` retries and raises; let it
    region_code = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region_code)
    if metadata is None or len(national) < pnu._MIN_LENGTH_FOR_NSN:
        return None
    _, stripped, _ = pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
    if pnu._test_number_length(stripped, metadata) not in (
        ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY, ValidationResult.INVALID_LENGTH,
    ):
        national = stripped
    if not pnu._MIN_LENGTH_FOR_NSN <= len(national) <= pnu._MAX_LENGTH_FOR_NSN:
        return None
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    pnu._set_italian_leading_zeros_for_phone_number(national, number)
    return number


def _is_valid(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, cheaper for the common case.

    `is_valid_number` first finds the number's region by trying each region of its country code, then
    validates against that region. The main region is always tried first and needs no leading-digits match,
    so a number valid for it is exactly one that `is_valid_number` finds there: checking it directly (with
    its patterns compiled once, `_type_patterns`) skips the search; anything else gets the full check.
    """
    country_code = number.country_code
    patterns = _type_patterns(country_code)
    if patterns is not None:
        general, types = patterns
        nsn = phonenumbers.national_significant_number(number)
        if _matches(nsn, *general) and any(_matches(nsn, *desc) for desc in types):
            return True
    return phonenumbers.is_valid_number(number)


@functools.cache
def _type_patterns(country_code: int):
    """(general description, [number types]) of the main region of ``country_code``, each as (possible lengths,
    compiled pattern): what `is_valid_number_for_region` checks for that region, compiled once. `phonenumbers`
    looks each pattern up in `re`'s cache on every check, which cost as much as the matching."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return None

    def compiled(desc):
        if desc is None or not desc.national_number_pattern:
            return None
        return (frozenset(desc.possible_length), re.compile(desc.national_number_pattern))

    # `_number_type_helper`'s order: any type matching makes the number valid; mobile is only tried when its
    # pattern differs from fixed-line's.
    descs = [metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
             metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail, metadata.fixed_line]
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    general = compiled(metadata.general_desc)
    if general is None:
        return None
    return general, [c for c in map(compiled, descs) if c is not None]


def _matches(nsn: str, lengths: frozenset, pattern: re.Pattern) -> bool:
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None
