"""Signature verification over raw bytes: both algorithms, key rotation, compact re-serialisation."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ghl_integration.webhooks.signature import load_public_keys, verify_signature

from .conftest import DEV_KEYS_DIR, sign_ed25519, sign_rsa

BODY = b'{"type":"ContactCreate","locationId":"L1","webhookId":"w1"}'


def check(body=BODY, ed=None, rsa=None):
    return verify_signature(body, ed25519_signature=ed, rsa_signature=rsa)


def test_ed25519_and_rsa_verify():
    assert check(ed=sign_ed25519(BODY)).algorithm == "ed25519"
    assert check(rsa=sign_rsa(BODY)).algorithm == "rsa"
    assert check(ed=sign_ed25519(BODY), rsa=sign_rsa(BODY)).algorithm == "ed25519"


def test_one_flipped_byte_fails():
    assert check(body=BODY.replace(b"L1", b"L2"), ed=sign_ed25519(BODY)).reason == "bad-signature"
    assert check(body=BODY.replace(b"L1", b"L2"), rsa=sign_rsa(BODY)).reason == "bad-signature"


def test_missing_and_malformed():
    assert check().reason == "missing-signature"
    assert check(ed="", rsa="").reason == "missing-signature"
    assert check(ed="%%%").reason == "bad-signature"
    assert check(ed=base64.b64encode(b"x" * 63).decode()).reason == "bad-signature"
    assert check(rsa=base64.b64encode(b"x" * 512).decode()).reason == "bad-signature"


def test_published_keys_parse_and_are_the_default():
    from config.settings import ghl

    assert len(load_public_keys(ghl.GHL_PUBLISHED_ED25519_PUBLIC_KEY, ed25519.Ed25519PublicKey)) == 1


def test_signature_from_an_untrusted_key_fails():
    other = ed25519.Ed25519PrivateKey.generate()
    assert not check(ed=base64.b64encode(other.sign(BODY)).decode()).valid


def test_key_rotation_any_configured_key_verifies(settings):
    new = ed25519.Ed25519PrivateKey.generate()
    new_pem = new.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEYS = (DEV_KEYS_DIR / "ed25519_public.pem").read_text() + new_pem
    assert check(ed=sign_ed25519(BODY)).valid
    assert check(ed=base64.b64encode(new.sign(BODY)).decode()).valid
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEYS = new_pem.replace("\n", "\\n")  # env style, escaped newlines
    assert check(ed=base64.b64encode(new.sign(BODY)).decode()).valid
    assert not check(ed=sign_ed25519(BODY)).valid


def test_wrong_key_type_in_a_setting_is_refused_loudly():
    with pytest.raises(ValueError):
        load_public_keys((DEV_KEYS_DIR / "rsa_public.pem").read_text(), ed25519.Ed25519PublicKey)


def test_compact_reserialisation_fallback():
    spaced = b'{"type": "ContactCreate", "name": "J\xc3\xb6rg"}'
    compact = '{"type":"ContactCreate","name":"Jörg"}'.encode()
    assert check(body=spaced, ed=sign_ed25519(compact)).valid
    assert check(body=spaced, rsa=sign_rsa(compact)).valid
    assert not check(body=b"not json", ed=sign_ed25519(compact)).valid
