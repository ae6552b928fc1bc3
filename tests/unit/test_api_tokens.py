"""
Tests for L{resonate.api.tokens}: JWT verification and prefix
authorization.
"""

import time

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from resonate.api import tokens
from resonate.api.tokens import (
    EVERYONE,
    Principal,
    TokenRejected,
    TokenVerifier,
    principalOf,
)
from tests.support.jwttools import KeyPair, hmacToken, unsignedToken


class PrincipalTests(SynchronousTestCase):
    """
    A principal names ids by a literal prefix.
    """

    def test_admin(self):
        self.assertTrue(EVERYONE.allows("anything"))
        self.assertTrue(EVERYONE.allowsPattern("*"))
        self.assertTrue(EVERYONE.unrestricted)

    def test_prefixIsLiteral(self):
        """
        The prefix matches characters, not a separator: C{team-a/} keeps
        C{team-ab/...} out, C{team-a} lets it in (the documented rule).
        """
        slash = Principal(prefix="team-a/")
        self.assertTrue(slash.allows("team-a/1"))
        self.assertFalse(slash.allows("team-ab/1"))
        self.assertFalse(slash.allows("team-a"))
        bare = Principal(prefix="team-a")
        self.assertTrue(bare.allows("team-ab/1"))
        self.assertTrue(bare.allows("team-a"))
        self.assertFalse(bare.allows("team-b"))

    def test_patterns(self):
        """
        A pattern is allowed only when everything it can match is.
        """
        p = Principal(prefix="team-a/")
        self.assertTrue(p.allowsPattern("team-a/*"))
        self.assertTrue(p.allowsPattern("team-a/x"))
        self.assertTrue(p.allowsPattern("team-a/x*y"))
        self.assertFalse(p.allowsPattern("team-*"))
        self.assertFalse(p.allowsPattern("*"))
        self.assertFalse(p.allowsPattern("team-a"))

    def test_noPrefix(self):
        """
        Without a prefix a non-admin names nothing; C{""} names all.
        """
        self.assertFalse(Principal().allows("x"))
        self.assertFalse(Principal().allowsPattern("*"))
        self.assertTrue(Principal(prefix="").allowsPattern("*"))
        self.assertTrue(Principal(prefix="").unrestricted)
        self.assertTrue(Principal(prefix="a").allowsAll(["a1", "a2"]))
        self.assertFalse(Principal(prefix="a").allowsAll(["a1", "b2"]))

    def test_claims(self):
        self.assertEqual(principalOf({"role": "ADMIN", "sub": "op"}),
                         Principal(admin=True, subject="op"))
        self.assertEqual(principalOf({"role": "user", "prefix": "x/"}),
                         Principal(prefix="x/"))
        self.assertEqual(principalOf({"prefix": 3}), Principal())
        self.assertEqual(principalOf({"prefix": None, "sub": 5}), Principal())


class VerifierTests(SynchronousTestCase):
    """
    L{TokenVerifier} accepts only tokens signed by its key's algorithms,
    unexpired, from the configured issuer for the configured audience.
    """

    def test_keyTypes(self):
        """
        RSA, EC and Ed25519 keys each verify their own tokens, and not
        another key's.
        """
        for kind in ("rsa", "ec", "ed25519"):
            pair = KeyPair(kind)
            verifier = TokenVerifier(pair.publicPEM)
            self.assertEqual(verifier.verify(pair.token(prefix="a/")), Principal(prefix="a/"))
            other = KeyPair(kind)
            self.assertRaises(TokenRejected, verifier.verify, other.token(role="admin"))

    def test_rsaPSS(self):
        pair = KeyPair("rsa")
        token = pair.token(algorithm="PS256", role="admin")
        self.assertTrue(TokenVerifier(pair.publicPEM).verify(token).admin)

    def test_refused(self):
        """
        No token, garbage, expired, no C{exp}, C{alg: none}, and HMAC keyed
        with the public key are all refused.
        """
        pair = KeyPair("rsa")
        verifier = TokenVerifier(pair.publicPEM)
        for token in [
            None, "", "garbage", "a.b.c",
            pair.token(expiresIn=-60, role="admin"),
            pair.token(expiresIn=None, role="admin"),
            unsignedToken(role="admin"),
            hmacToken(pair.publicPEM, role="admin"),
        ]:
            self.assertRaises(TokenRejected, verifier.verify, token)

    def test_issuerAndAudience(self):
        pair = KeyPair("ec")
        verifier = TokenVerifier(pair.publicPEM, issuer="me", audience="resonate")
        good = pair.token(iss="me", aud="resonate", role="admin")
        self.assertTrue(verifier.verify(good).admin)
        for token in [
            pair.token(iss="you", aud="resonate", role="admin"),
            pair.token(iss="me", aud="other", role="admin"),
            pair.token(role="admin"),
        ]:
            self.assertRaises(TokenRejected, verifier.verify, token)
        # Unconfigured, they are not checked.
        self.assertTrue(TokenVerifier(pair.publicPEM).verify(good).admin)

    def test_authorization(self):
        pair = KeyPair("ed25519")
        verifier = TokenVerifier(pair.publicPEM)
        token = pair.token(prefix="p/")
        self.assertEqual(verifier.verifyAuthorization(f"Bearer {token}").prefix, "p/")
        self.assertEqual(verifier.verifyAuthorization(f"bearer  {token} ".encode()).prefix, "p/")
        for value in [None, token, f"Basic {token}", b"Bearer \xff", "Bearer"]:
            self.assertRaises(TokenRejected, verifier.verifyAuthorization, value)

    def test_badKeys(self):
        """
        A file that is missing or holds no public key is a clear error.
        """
        self.assertRaises(ValueError, TokenVerifier, b"not a key")
        path = self.mktemp()
        with self.assertRaises(ValueError) as e:
            TokenVerifier.fromFile(path)
        self.assertIn(path, str(e.exception))
        with open(path, "wb") as f:
            f.write(b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")
        with self.assertRaises(ValueError) as e:
            TokenVerifier.fromFile(path)
        self.assertIn(path, str(e.exception))
        pair = KeyPair("ec")
        self.assertEqual(
            TokenVerifier.fromFile(pair.writePublic(self.mktemp())).algorithms, ["ES256"]
        )


class VerifiedCacheTests(SynchronousTestCase):
    """
    L{TokenVerifier} remembers the tokens that verified, until they expire,
    so that a client's every request does not pay for a signature check.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(time.time())
        self.pair = KeyPair("ec")
        self.verifier = TokenVerifier(self.pair.publicPEM, clock=self.clock)
        self.decoded = []
        decode = tokens.jwt.decode

        def countingDecode(*args, **kwargs):
            self.decoded.append(args[0])
            return decode(*args, **kwargs)

        self.patch(tokens.jwt, "decode", countingDecode)

    def test_remembered(self):
        """
        A token that verified is not decoded again; its principal is the
        same.
        """
        token = self.pair.token(prefix="a/")
        first = self.verifier.verify(token)
        second = self.verifier.verifyAuthorization("Bearer " + token)
        self.assertEqual((first, second), (Principal(prefix="a/"), Principal(prefix="a/")))
        self.assertEqual(self.decoded, [token])

    def test_expires(self):
        """
        A remembered token is refused once its C{exp} has passed on the
        verifier's clock, as a new one would be.
        """
        token = self.pair.token(expiresIn=60, role="admin")
        self.assertTrue(self.verifier.verify(token).admin)
        self.clock.advance(59)
        self.assertTrue(self.verifier.verify(token).admin)
        self.clock.advance(2)
        error = self.assertRaises(TokenRejected, self.verifier.verify, token)
        self.assertIn("expired", str(error))
        self.assertEqual(self.decoded, [token])

    def test_leeway(self):
        """
        The leeway allowed on C{exp} applies to remembered tokens too.
        """
        verifier = TokenVerifier(self.pair.publicPEM, leeway=30, clock=self.clock)
        token = self.pair.token(expiresIn=60, role="admin")
        verifier.verify(token)
        self.clock.advance(80)
        self.assertTrue(verifier.verify(token).admin)
        self.clock.advance(11)
        self.assertRaises(TokenRejected, verifier.verify, token)

    def test_refusedNotRemembered(self):
        """
        A token that does not verify is checked again every time.
        """
        token = KeyPair("ec").token(role="admin")
        self.assertRaises(TokenRejected, self.verifier.verify, token)
        self.assertRaises(TokenRejected, self.verifier.verify, token)
        self.assertEqual(self.decoded, [token, token])

    def test_bounded(self):
        """
        At most L{tokens.VERIFIED_CACHE_SIZE} tokens are remembered; the
        oldest is forgotten first.
        """
        self.patch(tokens, "VERIFIED_CACHE_SIZE", 3)
        issued = [self.pair.token(prefix=f"{n}/") for n in range(4)]
        for token in issued:
            self.verifier.verify(token)
        self.verifier.verify(issued[3])
        self.verifier.verify(issued[0])
        self.assertEqual(self.decoded, issued + [issued[0]])
