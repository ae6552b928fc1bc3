# -*- test-case-name: tests.unit.test_api_tokens -*-
"""
JWT authentication and per-prefix authorization, the same for every
protocol (v0.5 HTTP and gRPC, the 2026 protocol, SSE, the console).

L{TokenVerifier} turns a token into a L{Principal} or refuses it
(L{TokenRejected}: 401 on every protocol); a L{Principal} says which ids
its holder may name (outside them: 403).  Neither knows about HTTP or
gRPC: the adapters take the token from where their protocol carries it.

Claims (as upstream Resonate reads them, protocol reference 14):

  - C{role}: C{admin} (any case) may do everything;
  - otherwise C{prefix}, a string: every id an operation names must start
    with it, literally (C{""} grants everything).  The match is on the
    characters, not on a separator: C{team-a} grants C{team-ab/1} too, so
    give C{team-a/} to mean the ids below C{team-a/}.  A token without a
    string C{prefix} (and not admin) may name nothing.

Signatures: the algorithms are fixed by the configured public key's type
(RSA: RS*/PS*; EC: the ES* of its curve; Ed25519/Ed448: EdDSA), so a token
cannot choose C{none}, nor HMAC keyed with the public key.  C{exp} is
required; C{iss} and C{aud} are checked when configured.
"""

import re
import threading
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

#: The algorithms each key type verifies; a token naming another is refused.
_RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGORITHMS = {
    "secp256r1": ("ES256",),
    "secp384r1": ("ES384",),
    "secp521r1": ("ES512",),
}

# The scheme is case-insensitive (RFC 6750 2.1, RFC 9110 11.1).
_BEARER = re.compile(r"[ \t]*bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*", re.IGNORECASE)

#: The C{role} claim's value that grants everything (compared case-blind).
ADMIN_ROLE = "admin"

#: The C{WWW-Authenticate} challenge of a refusal (RFC 6750 3).
CHALLENGE = b'Bearer realm="resonate"'

#: How many verified tokens a verifier remembers (see L{TokenVerifier}).
VERIFIED_CACHE_SIZE = 1024


class TokenRejected(Exception):
    """
    No token, or one that does not verify: the request is not
    authenticated (401).  The message says why, for the log and the
    answer (it never holds the token).
    """


@dataclass(frozen=True)
class Principal:
    """
    Who a request is, as far as authorization goes.

    @ivar admin: may name any id.
    @ivar prefix: when not admin, the ids it may name start with this
        (L{None}: none at all).
    @ivar subject: the token's C{sub}, for logs; L{None} if it has none.
    """

    admin: bool = False
    prefix: str = None
    subject: str = None

    def allows(self, resourceId):
        """
        Whether this principal may name C{resourceId}.
        """
        if self.admin:
            return True
        if self.prefix is None or not isinstance(resourceId, str):
            return False
        return resourceId.startswith(self.prefix)

    def allowsAll(self, resourceIds):
        """
        Whether this principal may name every id of C{resourceIds}.
        """
        return all(self.allows(i) for i in resourceIds)

    def allowsPattern(self, pattern):
        """
        Whether every id a search C{pattern} (C{*} is any text) can match
        lies within this principal's ids: its text before the first C{*}
        starts with the prefix.  C{team-a/*} is within C{team-a/};
        C{team-*} and C{*} are not.
        """
        if self.admin:
            return True
        if self.prefix is None or not isinstance(pattern, str):
            return False
        literal = pattern.split("*", 1)[0]
        return literal.startswith(self.prefix)

    @property
    def unrestricted(self):
        """
        Whether this principal may name every id (admin, or prefix C{""}).
        """
        return self.admin or self.prefix == ""


#: The principal of a request when no token is asked for (JWT off).
EVERYONE = Principal(admin=True)


def _algorithmsFor(key):
    """
    The algorithms a public key verifies.

    @raise ValueError: a key of a type tokens are not signed with.
    """
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        try:
            return _EC_ALGORITHMS[key.curve.name]
        except KeyError:
            raise ValueError(f"unsupported EC curve {key.curve.name}")
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return ("EdDSA",)
    raise ValueError(f"unsupported public key type {type(key).__name__}")


class TokenVerifier:
    """
    Verify JWTs with one public key, and read their principal.

    Checking a signature costs about as much as serving a request, and a
    client sends the same token with every request until it expires: the
    last L{VERIFIED_CACHE_SIZE} tokens that verified are remembered, with
    their principal, until their C{exp}.  A token is its signature and
    claims, byte for byte, so a remembered one needs no other check than
    its expiry (C{nbf} and C{iat} only ever become more true).  The cache
    is shared by the reactor and gRPC's event loop: a lock guards its
    changes.
    """

    def __init__(self, publicKey, issuer=None, audience=None, leeway=0, clock=None):
        """
        @param publicKey: the PEM of the public key, C{bytes}.
        @param issuer: the C{iss} tokens must carry, or L{None} to accept
            any.
        @param audience: the C{aud} tokens must carry (or list), or L{None}
            to accept any.
        @param leeway: seconds of clock skew allowed on C{exp} and C{nbf}.
        @param clock: an C{IReactorTime} whose C{seconds()} a remembered
            token's expiry is checked against; L{None} for the wall clock
            (which PyJWT checks a new token against).
        @raise ValueError: C{publicKey} is not a PEM public key of RSA, EC
            (P-256, P-384, P-521), Ed25519 or Ed448.
        """
        self._key = load_pem_public_key(publicKey)
        self.algorithms = list(_algorithmsFor(self._key))
        self.issuer = issuer or None
        self.audience = audience or None
        self._leeway = leeway
        self._seconds = time.time if clock is None else clock.seconds
        self._verified = {}
        self._lock = threading.Lock()

    @classmethod
    def fromFile(cls, path, issuer=None, audience=None):
        """
        A verifier with the PEM public key in the file at C{path}.

        @raise ValueError: the file cannot be read, or holds no usable key;
            the message names the path.
        """
        try:
            with open(path, "rb") as f:
                pem = f.read()
        except OSError as e:
            raise ValueError(f"cannot read the JWT public key {path}: {e.strerror}")
        try:
            return cls(pem, issuer=issuer, audience=audience)
        except ValueError as e:
            raise ValueError(f"the JWT public key {path} is not usable: {e}")

    def verify(self, token):
        """
        The principal of C{token}.

        @param token: the compact JWT, C{str} (or L{None}: none given).
        @raise TokenRejected: there is none, or it does not verify (bad
            form or signature, an algorithm the key does not verify,
            expired, no C{exp}, wrong issuer or audience).
        """
        if not token or not isinstance(token, str):
            raise TokenRejected("no token")
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if self._seconds() < expires + self._leeway:
                return principal
            with self._lock:
                self._verified.pop(token, None)
            raise TokenRejected("invalid token: Signature has expired")
        try:
            claims = jwt.decode(
                token,
                key=self._key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self._leeway,
                options={
                    "require": ["exp"],
                    "verify_aud": self.audience is not None,
                    "verify_iss": self.issuer is not None,
                },
            )
        except jwt.PyJWTError as e:
            raise TokenRejected(f"invalid token: {e}")
        except (ValueError, TypeError) as e:
            # What PyJWT lets through from a malformed token or key use.
            raise TokenRejected(f"invalid token: {e}")
        principal = principalOf(claims)
        self._remember(token, principal, claims["exp"])
        return principal

    def _remember(self, token, principal, expires):
        """
        Remember a token that verified, until C{expires} (its C{exp}),
        forgetting the oldest beyond L{VERIFIED_CACHE_SIZE}.
        """
        with self._lock:
            verified = self._verified
            while len(verified) >= VERIFIED_CACHE_SIZE:
                del verified[next(iter(verified))]
            verified[token] = (principal, float(expires))

    def verifyAuthorization(self, authorization):
        """
        The principal of an C{Authorization: Bearer} value (or of the
        C{authorization} gRPC metadata).

        @param authorization: C{bytes}, C{str}, or L{None} when absent.
        @raise TokenRejected: absent, not a Bearer token, or it does not
            verify.
        """
        if isinstance(authorization, bytes):
            try:
                authorization = authorization.decode("ascii")
            except UnicodeDecodeError:
                raise TokenRejected("the Authorization header is not ASCII")
        if authorization is None:
            raise TokenRejected("no token")
        match = _BEARER.fullmatch(authorization)
        if match is None:
            raise TokenRejected("the Authorization header is not a Bearer token")
        return self.verify(match.group(1))


def principalOf(claims):
    """
    The principal a verified token's claims describe.
    """
    role = claims.get("role")
    subject = claims.get("sub")
    subject = subject if isinstance(subject, str) else None
    if isinstance(role, str) and role.lower() == ADMIN_ROLE:
        return Principal(admin=True, subject=subject)
    prefix = claims.get("prefix")
    return Principal(
        admin=False,
        prefix=prefix if isinstance(prefix, str) else None,
        subject=subject,
    )
