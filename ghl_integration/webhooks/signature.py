"""Verify GHL's webhook signatures over the raw body bytes (REFERENCE.md §h).

* `x-ghl-signature`: Ed25519, base64 (current, preferred; checked first).
* `x-wh-signature`: RSA PKCS#1 v1.5 with SHA-256, base64 (legacy; checked when Ed25519 is absent or fails).

GHL's own examples verify against `JSON.stringify(parsedBody)`, i.e. compact JSON. We verify the raw bytes
first and, only if that fails, the compact re-serialisation of the parsed body.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from django.conf import settings

ED25519_HEADER = "x-ghl-signature"
RSA_HEADER = "x-wh-signature"
ED25519 = "ed25519"
RSA = "rsa"
# A base64 RSA-4096 signature is 684 characters; anything much longer is not a signature.
MAX_SIGNATURE_HEADER_LENGTH = 2048
_COMPACT = object()  # marker: "now try the compact re-serialisation"
_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    algorithm: str = ""  # which algorithm matched
    reason: str = ""  # why not: "missing-signature" or "bad-signature"


@lru_cache(maxsize=16)
def load_public_keys(pem_blocks: str, key_type: type) -> tuple:
    """Parse every PEM block of one setting; blocks of the wrong key type are refused loudly."""
    text = pem_blocks.replace("\\n", "\n")
    keys = []
    for block in _PEM_BLOCK.findall(text):
        key = load_pem_public_key(block.encode())
        if not isinstance(key, key_type):
            raise ValueError(f"GHL webhook key is a {type(key).__name__}, expected {key_type.__name__}")
        keys.append(key)
    return tuple(keys)


def _decode(signature: str | None) -> bytes | None:
    if not signature or len(signature) > MAX_SIGNATURE_HEADER_LENGTH:
        return None
    try:
        return base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _ed25519_ok(keys, signature: bytes, data: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, data)
            return True
        except InvalidSignature:
            continue
    return False


def _rsa_ok(keys, signature: bytes, data: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def _compact(body: bytes) -> bytes | None:
    try:
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, RecursionError, UnicodeError):
        return None
    return None if compact == body else compact


def verify_signature(body: bytes, *, ed25519_signature: str | None, rsa_signature: str | None) -> SignatureCheck:
    """Check the body against the configured keys. Never raises on bad input."""
    if not ed25519_signature and not rsa_signature:
        return SignatureCheck(valid=False, reason="missing-signature")
    ed_sig = _decode(ed25519_signature)
    rsa_sig = _decode(rsa_signature)
    if ed_sig is None and rsa_sig is None:
        return SignatureCheck(valid=False, reason="bad-signature")
    ed_keys = load_public_keys(settings.GHL_WEBHOOK_ED25519_PUBLIC_KEYS, ed25519.Ed25519PublicKey)
    rsa_keys = load_public_keys(settings.GHL_WEBHOOK_RSA_PUBLIC_KEYS, rsa.RSAPublicKey)
    for data in (body, _COMPACT):
        if data is _COMPACT:
            data = _compact(body)  # only computed when the raw bytes did not verify
            if data is None:
                break
        if ed_sig is not None and len(ed_sig) == 64 and _ed25519_ok(ed_keys, ed_sig, data):
            return SignatureCheck(valid=True, algorithm=ED25519)
        if rsa_sig is not None and _rsa_ok(rsa_keys, rsa_sig, data):
            return SignatureCheck(valid=True, algorithm=RSA)
    return SignatureCheck(valid=False, reason="bad-signature")
