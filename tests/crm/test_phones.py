import pytest
from django.core.exceptions import ValidationError

from crm.phones import normalize_phone
from crm.services.contacts import contact_create


@pytest.mark.parametrize(
    "raw",
    ["(503) 555-0142", "503-555-0142", "503.555.0142", "5035550142", "+1 503 555 0142", "1-503-555-0142",
     "+15035550142", " 503 555 0142 "],
)
def test_national_and_international_formats_become_one_e164_value(raw):
    assert normalize_phone(raw, default_region="US") == "+15035550142"


def test_region_decides_how_a_national_number_is_read():
    assert normalize_phone("020 7946 0018", default_region="GB") == "+442079460018"
    assert normalize_phone("+44 20 7946 0018", default_region="US") == "+442079460018"


@pytest.mark.parametrize("junk", ["hello", "12", "+1 555", "555-CALL-NOW-PLEASE-12345678901234567890123"])
def test_junk_is_a_clear_validation_error(junk):
    with pytest.raises(ValidationError) as excinfo:
        normalize_phone(junk, default_region="US")
    assert junk.strip()[:5] in str(excinfo.value) or "too long" in str(excinfo.value)


def test_empty_is_empty():
    assert normalize_phone("", default_region="US") == ""
    assert normalize_phone(None, default_region="US") == ""


@pytest.mark.django_db
def test_contact_create_stores_e164_and_rejects_junk_by_field(org_factory):
    org = org_factory()
    contact = contact_create(organization=org, first_name="Jane", last_name="Doe", phone="(503) 555-0142",
                             additional_phones=["503.555.0177"], email="Jane.Doe@Example.com ")
    assert contact.phone == "+15035550142"
    assert contact.additional_phones == ["+15035550177"]
    assert contact.email == "jane.doe@example.com"
    assert contact.full_name == "Jane Doe"

    with pytest.raises(ValidationError) as excinfo:
        contact_create(organization=org, first_name="Bad", phone="not a phone")
    assert "phone" in excinfo.value.message_dict


def test_the_validity_shortcut_agrees_with_phonenumbers_everywhere():
    import random

    import phonenumbers

    from crm.phones import _is_valid

    rng = random.Random(7)
    numbers = []
    for country_code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
                example = phonenumbers.example_number_for_type(region, kind) if region != "001" else None
                if example:
                    numbers.append(example)
        for _ in range(40):
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 13)))
            try:
                numbers.append(phonenumbers.parse(f"+{country_code}{digits}"))
            except phonenumbers.NumberParseException:
                pass
    assert sum(map(phonenumbers.is_valid_number, numbers)) > 400  # both outcomes are well represented
    assert [n for n in numbers if _is_valid(n) != phonenumbers.is_valid_number(n)] == []


def test_the_e164_shortcut_parses_exactly_as_phonenumbers_does():
    import random

    import phonenumbers

    from crm.phones import _E164_SHAPE, _parse_e164

    rng = random.Random(11)
    texts = set()
    for country_code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in phonenumbers.PhoneNumberType.values():
                example = phonenumbers.example_number_for_type(region, kind) if region != "001" else None
                if example:
                    texts.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
        for _ in range(30):
            # random national numbers, some with the country's national prefix (e.g. a trunk "0") in front
            prefix = rng.choice(["", "0", "1", "00", "8"])
            texts.add(f"+{country_code}{prefix}" + "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 13))))
    texts |= {"+" + "".join(rng.choice("0123456789") for _ in range(rng.randint(7, 15))) for _ in range(3000)}
    shaped = [t for t in texts if _E164_SHAPE.fullmatch(t)]
    assert len(shaped) > 6_000

    def outcome(parse, text):
        try:
            number = parse(text)
        except phonenumbers.NumberParseException as exc:
            return ("error", exc.error_type)
        if number is None:
            return None  # the shortcut declined: the full parse decides
        return (number.country_code, number.national_number, number.italian_leading_zero,
                number.number_of_leading_zeros, phonenumbers.is_valid_number(number))

    differ = []
    for text in shaped:
        fast = outcome(_parse_e164, text)
        if fast is not None and fast != outcome(lambda t: phonenumbers.parse(t, "US"), text):
            differ.append(text)
    assert differ == []
    # and the shortcut does take nearly every well-formed number
    assert sum(outcome(_parse_e164, t) is not None for t in shaped) > 0.9 * len(shaped)


def test_normalize_phone_is_what_parse_validate_and_format_give():
    """The whole normalisation (shortcuts included) against `phonenumbers` doing each step itself."""
    import random

    import phonenumbers

    from crm.phones import _to_e164

    rng = random.Random(23)
    cases = []
    for country_code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            example = phonenumbers.example_number(region) if region != "001" else None
            if example:
                cases.append((phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164), "US"))
                national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
                cases.append((national, region))
        for _ in range(20):
            prefix = rng.choice(["", "0", "00", "1"])
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 12)))
            cases.append((f"+{country_code}{prefix}{digits}", "US"))
    cases += [("(503) 555-0142", "US"), ("020 7946 0958", "GB"), ("+39 06 1234 5678", "US"), ("+390612345678", "IT")]

    def expected(text, region):
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return "unparseable"
        if not phonenumbers.is_valid_number(number):
            return "invalid"
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    results = [(text, region, _to_e164(text, region), expected(text, region)) for text, region in cases]
    assert sum(r[3].startswith("+") for r in results) > 400  # valid and invalid both well represented
    assert [r for r in results if r[2] != r[3]] == []
