"""Seeded contacts hold phone numbers a real location would: valid, distinct, and fictional."""

import phonenumbers

from crm.phones import normalize_phone
from ghl_sandbox.seed import fictional_phone


def test_seeded_phones_are_valid_distinct_us_numbers_in_the_fictional_range():
    phones = [fictional_phone(n) for n in range(30_000)]
    assert len(set(phones)) == len(phones)
    for phone in phones[::101]:
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == "US"
        assert phone[5:9] == "5550" and 100 <= int(phone[8:]) <= 199  # NPA 555-01XX: reserved for fiction
        assert normalize_phone(phone, default_region="US") == phone  # the product keeps them as they are
