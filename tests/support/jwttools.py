"""
Key pairs and tokens for the JWT tests: real keys of every type the server
verifies, made with C{cryptography}, and tokens signed with PyJWT.
"""

import base64
import hashlib
import hmac
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

#: How to make a private key of each type, and the algorithm that signs
#: with it.
KEY_TYPES = {
    "rsa": (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    "ec": (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    "ed25519": (lambda: ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
}


class KeyPair:
    """
    A private key and its public key's PEM.
    """

    def __init__(self, kind="ec"):
        make, self.algorithm = KEY_TYPES[kind]
        self.kind = kind
        self.private = make()
        self.publicPEM = self.private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )

    def writePublic(self, path):
        """
        Write the public key's PEM to C{path}; return C{path}.
        """
        with open(path, "wb") as f:
            f.write(self.publicPEM)
        return path

    def token(self, expiresIn=3600, algorithm=None, **claims):
        """
        A token signed with this key, expiring C{expiresIn} seconds from
        now (L{None}: no C{exp}), with C{claims}.
        """
        payload = dict(claims)
        if expiresIn is not None:
            payload["exp"] = int(time.time()) + expiresIn
        return jwt.encode(payload, self.private, algorithm=algorithm or self.algorithm)


def unsignedToken(**claims):
    """
    A token with C{alg: none}, which no configured key may accept.
    """
    claims.setdefault("exp", int(time.time()) + 3600)
    return jwt.encode(claims, None, algorithm="none")


def hmacToken(secret, **claims):
    """
    A token signed with HS256 keyed with C{secret} (say, the public key's
    PEM: the algorithm-confusion attack), made by hand: PyJWT refuses to
    sign one.
    """
    claims.setdefault("exp", int(time.time()) + 3600)

    def part(value):
        raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(claims)
    signature = hmac.new(secret, signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode("ascii")
