# -*- test-case-name: tests.integration.test_auth -*-
"""
Tests for HTTP basic auth (L{resonate.api.auth}, L{resonate.api.http.APISite})
and for serving the API over TLS (a Twisted endpoint description as
C{api.subsystems.http.addr}), over real sockets on 127.0.0.1.  A real
C{twist resonate} process serving both is in
L{tests.processes.test_auth_processes}.
"""

import base64
import hmac
import json
import os
import re

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.trial import unittest
from twisted.web import http
from twisted.web.client import ResponseFailed

from resonate.api.auth import CHALLENGE, BasicCredentials, basicAuthorization
from resonate.config import (
    Address,
    ConfigError,
    isEndpointDescription,
    loadConfig,
)
from resonate.services.listen import endpointForAddress
from resonate.tap import credentialsFromConfig
from tests.support.apitools import LiveAPI
from tests.support.tlstools import SelfSignedMixin

USER = "ada"
PASSWORD = "s3cret:with colon"
GOOD = {"authorization": basicAuthorization(USER, PASSWORD).decode("ascii")}


def basic(raw):
    """
    An C{Authorization} value carrying C{raw} bytes as its credentials.
    """
    return b"Basic " + base64.b64encode(raw)


class BasicCredentialsTests(unittest.SynchronousTestCase):
    """
    Tests for L{BasicCredentials.check}: only the exact credentials pass,
    and no input makes it raise.
    """

    def setUp(self):
        self.credentials = BasicCredentials(USER, PASSWORD)

    def test_good(self):
        """
        The right user name and password pass, as C{bytes} or C{str}, with
        the scheme in any case and spaces around.
        """
        for value in [
            basicAuthorization(USER, PASSWORD),
            basicAuthorization(USER, PASSWORD).decode("ascii"),
            basic(b"ada:s3cret:with colon").replace(b"Basic", b"basic"),
            basic(b"ada:s3cret:with colon").replace(b"Basic", b"BASIC"),
            b"  " + basic(b"ada:s3cret:with colon").replace(b" ", b"   ") + b" ",
        ]:
            self.assertTrue(self.credentials.check(value), value)

    def test_wrong(self):
        """
        A wrong user name, a wrong password, either one alone, or extra
        bytes, do not pass.
        """
        for raw in [
            b"ada:wrong",
            b"bob:s3cret:with colon",
            b"ada:",
            b":s3cret:with colon",
            b"ada:s3cret:with colon ",
            b"ada:s3cret:with",
            b"ADA:s3cret:with colon",
            b"ada:s3cret:with colon\x00",
            b"",
        ]:
            self.assertFalse(self.credentials.check(basic(raw)), raw)

    def test_missingColon(self):
        """
        Credentials without the colon between user name and password do not
        pass, even when they hold both.
        """
        self.assertFalse(self.credentials.check(basic(b"adas3cret:with colon")))
        self.assertFalse(BasicCredentials("a", "b").check(basic(b"ab")))

    def test_notBasic(self):
        """
        No header, an empty one, other schemes, and a scheme without a token
        do not pass.
        """
        token = base64.b64encode(b"ada:s3cret:with colon")
        for value in [
            None,
            b"",
            b"Basic",
            b"Basic ",
            b"Bearer " + token,
            b"Digest " + token,
            b"Basicx " + token,
            token,
            b"Basic " + token + b" extra",
            b"Basic " + token + b"," + token,
        ]:
            self.assertFalse(self.credentials.check(value), value)

    def test_badBase64(self):
        """
        Tokens that are not base64 (bad characters, bad padding, URL-safe
        alphabet) do not pass.
        """
        credentials = BasicCredentials("ada", "pwd")
        token = base64.b64encode(b"ada:pwd")
        self.assertEqual(token, b"YWRhOnB3ZA==")
        self.assertTrue(credentials.check(b"Basic " + token))
        for value in [
            b"Basic !!!!",
            b"Basic " + token.rstrip(b"="),
            b"Basic " + token + b"=",
            b"Basic " + token[:-2],
            b"Basic =" + token,
            b"Basic " + token.replace(b"=", b""),
            b"Basic " + token.replace(b"==", b"="),
            b"Basic YWRh OnB3ZA==",
        ]:
            self.assertFalse(credentials.check(value), value)
        # "a:>?" is "YTo+Pw==" in base64 and "YTo-Pw==" in its URL-safe form.
        symbols = BasicCredentials("a", ">?")
        self.assertTrue(symbols.check(b"Basic YTo+Pw=="))
        self.assertFalse(symbols.check(b"Basic YTo-Pw=="))

    def test_encodings(self):
        """
        Credentials are compared as UTF-8: a non-ASCII password passes in
        UTF-8 and not in Latin-1; bytes that are not UTF-8 never pass, and
        neither does a C{str} header that is not ASCII.
        """
        credentials = BasicCredentials("jos\u00e9", "p\u00e4ss")
        self.assertTrue(credentials.check(basic("jos\u00e9:p\u00e4ss".encode("utf-8"))))
        self.assertFalse(
            credentials.check(basic("jos\u00e9:p\u00e4ss".encode("latin-1")))
        )
        self.assertFalse(credentials.check(basic(b"\xff\xfe:\x80")))
        self.assertFalse(credentials.check("Basic \u00e9\u00e9\u00e9\u00e9"))

    def test_otherTypes(self):
        """
        A value that is neither C{bytes} nor C{str} does not pass.
        """
        for value in [1, [basicAuthorization(USER, PASSWORD)], object()]:
            self.assertFalse(self.credentials.check(value))

    def test_wholeComparison(self):
        """
        Every check, whatever is wrong with the credentials (user name,
        password, length), ends in exactly one C{hmac.compare_digest} of two
        equal-length digests: there is no early exit on a wrong user name,
        so how long it takes does not tell which part was wrong.
        """
        calls = []
        original = hmac.compare_digest

        def recording(a, b):
            calls.append((len(a), len(b)))
            return original(a, b)

        self.patch(hmac, "compare_digest", recording)
        for raw in [
            b"ada:s3cret:with colon",
            b"bob:s3cret:with colon",
            b"ada:wrong",
            b"x",
            b"ada:" + b"p" * 10_000,
        ]:
            del calls[:]
            self.credentials.check(basic(raw))
            self.assertEqual(calls, [(32, 32)], raw)

    def test_colonInUserName(self):
        """
        A user name with a colon cannot be presented (RFC 7617), so it is
        refused up front.
        """
        self.assertRaises(ValueError, BasicCredentials, "a:b", "c")

    def test_reprHidesPassword(self):
        """
        The credentials' repr names the user, never the password.
        """
        self.assertNotIn(PASSWORD, repr(self.credentials))
        self.assertIn(USER, repr(self.credentials))

    def test_basicAuthorization(self):
        """
        L{basicAuthorization} writes what a client sends.
        """
        self.assertEqual(
            basicAuthorization("Aladdin", "open sesame"),
            b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        )


class AuthConfigTests(unittest.SynchronousTestCase):
    """
    Tests for the C{api.subsystems.http.auth} keys.
    """

    def test_offByDefault(self):
        """
        Without the keys, there are no credentials: auth is off.
        """
        self.assertIsNone(credentialsFromConfig(loadConfig()))

    def test_flags(self):
        """
        Both flags together turn auth on with those credentials.
        """
        config = loadConfig(
            flags={
                "api-http-auth-username": USER,
                "api-http-auth-password": PASSWORD,
            }
        )
        credentials = credentialsFromConfig(config)
        self.assertTrue(credentials.check(basicAuthorization(USER, PASSWORD)))
        self.assertFalse(credentials.check(basicAuthorization(USER, "no")))

    def test_file(self):
        """
        The keys in the file turn auth on too.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(
                "api:\n  subsystems:\n    http:\n      auth:\n"
                f"        username: {USER}\n        password: '{PASSWORD}'\n"
            )
        credentials = credentialsFromConfig(loadConfig(path))
        self.assertTrue(credentials.check(basicAuthorization(USER, PASSWORD)))

    def test_bothOrNeither(self):
        """
        One key without the other is an error at the missing key's path.
        """
        error = self.assertRaises(
            ConfigError, loadConfig, flags={"api-http-auth-username": USER}
        )
        self.assertEqual(
            [path for path, _ in error.errors],
            ["api.subsystems.http.auth.password"],
        )
        self.assertIn("must be set when", str(error))
        error = self.assertRaises(
            ConfigError, loadConfig, flags={"api-http-auth-password": PASSWORD}
        )
        self.assertEqual(
            [path for path, _ in error.errors],
            ["api.subsystems.http.auth.username"],
        )

    def test_colonInUserName(self):
        """
        A user name with a colon is a configuration error naming the flag.
        """
        error = self.assertRaises(
            ConfigError,
            loadConfig,
            flags={
                "api-http-auth-username": "a:b",
                "api-http-auth-password": PASSWORD,
            },
        )
        self.assertEqual(
            error.errors,
            [
                (
                    "api.subsystems.http.auth.username",
                    "must not contain ':' (RFC 7617) "
                    "(from flag --api-http-auth-username)",
                )
            ],
        )


class HTTPAuthTests(unittest.TestCase):
    """
    With credentials configured, every request must present them; without,
    nothing changes.
    """

    async def startAPI(self, credentials=BasicCredentials(USER, PASSWORD), **kw):
        return await LiveAPI(self, credentials=credentials, **kw).start()

    def assertUnauthorized(self, response):
        """
        C{response} is the 401 refusal: envelope 4010, the challenge, JSON.
        """
        self.assertEqual(response.code, 401, response)
        self.assertEqual(response.errorCode, 4010)
        self.assertEqual(
            response.body["error"]["message"], "The request is unauthorized"
        )
        self.assertEqual(
            response.headers.getRawHeaders(b"www-authenticate"), [CHALLENGE]
        )
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"),
            [b"application/json"],
        )

    async def test_refused(self):
        """
        A request without credentials, or with wrong ones, is refused with
        401 and changes nothing.
        """
        api = await self.startAPI()
        for headers in [
            {},
            {"authorization": basicAuthorization(USER, "wrong").decode()},
            {"authorization": basicAuthorization("eve", PASSWORD).decode()},
            {"authorization": "Bearer abc"},
            {"authorization": "Basic %%%"},
        ]:
            response = await api.request(
                "POST", "/promises", {"id": "p", "timeout": 2**40}, headers
            )
            self.assertUnauthorized(response)
        self.assertEqual(
            (await api.request("GET", "/promises/p", headers=GOOD)).code, 404
        )

    async def test_served(self):
        """
        A request with the credentials is served as usual.
        """
        api = await self.startAPI()
        created = await api.request(
            "POST", "/promises", {"id": "p", "timeout": 2**40}, GOOD
        )
        self.assertEqual(created.code, 201)
        read = await api.request("GET", "/promises/p", headers=GOOD)
        self.assertEqual((read.code, read.body["id"]), (200, "p"))

    async def test_everyPath(self):
        """
        Unknown paths, wrong methods, bad paths and the health routes are
        refused without credentials, before routing; with them they answer
        as usual.
        """
        api = await self.startAPI()
        for method, path, expected in [
            ("GET", "/nowhere", 404),
            ("DELETE", "/promises", 405),
            ("GET", "/healthz", 200),
            ("GET", "/readyz", 200),
            ("GET", "/promises/%FF", 400),
            ("GET", "/schedules/s", 404),
            ("POST", "/locks/release", 400),
            ("POST", "/tasks/claim", 400),
        ]:
            refused = await api.request(method, path)
            self.assertUnauthorized(refused)
            served = await api.request(method, path, headers=GOOD)
            self.assertEqual(served.code, expected, (method, path, served))

    async def test_off(self):
        """
        Without credentials configured, requests need none, and an
        C{Authorization} header is ignored.
        """
        api = await self.startAPI(credentials=None)
        created = await api.request("POST", "/promises", {"id": "p", "timeout": 2**40})
        self.assertEqual(created.code, 201)
        read = await api.request(
            "GET", "/promises/p", headers={"authorization": "Basic %%%"}
        )
        self.assertEqual(read.code, 200)

    async def test_bodyDropped(self):
        """
        The body of a refused request is read off the connection and
        dropped, never buffered, and the connection goes on: the next
        request on it is answered.
        """
        buffered = []
        original = http.Request.handleContentChunk

        def recording(request, data):
            buffered.append(data)
            return original(request, data)

        self.patch(http.Request, "handleContentChunk", recording)
        api = await self.startAPI()
        received = Deferred()

        class Client(Protocol):
            data = b""

            def dataReceived(self, data):
                self.data += data

            def connectionLost(self, reason):
                received.callback(self.data)

        client = await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", api.port), Client()
        )
        body = json.dumps({"id": "p", "timeout": 2**40}).encode()
        client.transport.write(
            b"POST /promises HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            + b"POST /promises HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
            % (len(body), body)
            + b"GET /promises/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: " + GOOD["authorization"].encode() + b"\r\n\r\n"
        )
        answer = await received
        statuses = re.findall(rb"HTTP/1\.1 ([0-9]{3}) ", answer)
        self.assertEqual(statuses, [b"401", b"401", b"404"], answer)
        self.assertEqual(buffered, [])


class EndpointAddressTests(SelfSignedMixin, unittest.SynchronousTestCase):
    """
    Tests for Twisted endpoint descriptions as C{api.subsystems.http.addr}.
    """

    def test_isEndpointDescription(self):
        """
        Descriptions start with an endpoint type; addresses do not.
        """
        for text in [
            "tcp:8001",
            "tcp:8001:interface=127.0.0.1",
            "ssl:8443:privateKey=key.pem",
            "unix:/run/resonate.sock",
            "tcp6:8001:interface=\\:\\:1",
            "systemd:domain=INET:index=0",
        ]:
            self.assertTrue(isEndpointDescription(text), text)
        for text in [
            "0.0.0.0:8001",
            ":8001",
            "localhost:8001",
            "[::1]:8001",
            "tcp",
            "sslhost:8001",
        ]:
            self.assertFalse(isEndpointDescription(text), text)

    def test_sslAccepted(self):
        """
        An C{ssl:} description with readable key and certificate files is
        accepted for the HTTP address, kept as its text.
        """
        description = self.certificate.endpoint(8443)
        config = loadConfig(flags={"api-http-addr": description})
        value = config.get("api.subsystems.http.addr")
        self.assertEqual(value, description)
        self.assertNotIsInstance(value, Address)

    def test_plainAddressStill(self):
        """
        A C{host:port} address is still an L{Address}.
        """
        config = loadConfig(flags={"api-http-addr": "127.0.0.1:8001"})
        self.assertIsInstance(config.get("api.subsystems.http.addr"), Address)

    def test_missingKey(self):
        """
        A description whose key file is missing is a configuration error at
        the key's path that says why.
        """
        missing = os.path.abspath(self.mktemp())
        error = self.assertRaises(
            ConfigError,
            loadConfig,
            flags={"api-http-addr": f"ssl:8443:privateKey={missing}"},
        )
        [(path, message)] = error.errors
        self.assertEqual(path, "api.subsystems.http.addr")
        self.assertIn("must be a valid Twisted endpoint description", message)
        self.assertIn("No such file", message)

    def test_badArguments(self):
        """
        Unknown endpoint arguments are a configuration error.
        """
        error = self.assertRaises(
            ConfigError, loadConfig, flags={"api-http-addr": "tcp:8001:colour=red"}
        )
        self.assertEqual(error.errors[0][0], "api.subsystems.http.addr")

    def test_grpcAddressStaysHostPort(self):
        """
        The gRPC address (served by grpcio, not Twisted) takes no
        descriptions.
        """
        error = self.assertRaises(
            ConfigError,
            loadConfig,
            flags={"api-grpc-addr": self.certificate.endpoint(50051)},
        )
        self.assertEqual(error.errors[0][0], "api.subsystems.grpc.addr")

    def test_endpointForAddress(self):
        """
        L{endpointForAddress} builds the described endpoint.
        """
        from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint

        self.assertIsInstance(
            endpointForAddress(reactor, self.certificate.endpoint()),
            SSL4ServerEndpoint,
        )
        self.assertIsInstance(
            endpointForAddress(reactor, "tcp:0:interface=127.0.0.1"),
            TCP4ServerEndpoint,
        )


class TLSTests(SelfSignedMixin, unittest.TestCase):
    """
    The API served over TLS with a certificate made by the test.
    """

    async def test_https(self):
        """
        Over TLS, a client that trusts the certificate is served, with auth
        applying as over plain HTTP.
        """
        api = await LiveAPI(
            self,
            addr=self.certificate.endpoint(),
            scheme="https",
            agent=self.certificate.trustingAgent(),
            credentials=BasicCredentials(USER, PASSWORD),
        ).start()
        refused = await api.request("GET", "/healthz")
        self.assertEqual(refused.code, 401)
        created = await api.request(
            "POST", "/promises", {"id": "p", "timeout": 2**40}, GOOD
        )
        self.assertEqual(created.code, 201)

    async def test_untrusted(self):
        """
        A client that does not trust the certificate cannot connect: the
        listener really speaks TLS with that certificate.
        """
        api = await LiveAPI(
            self, addr=self.certificate.endpoint(), scheme="https"
        ).start()
        await self.assertFailure(
            ensureDeferred(api.request("GET", "/healthz")), ResponseFailed
        )

    async def test_plainHTTPRefused(self):
        """
        Plain HTTP to the TLS port gets no HTTP answer.
        """
        api = await LiveAPI(
            self, addr=self.certificate.endpoint(), scheme="http"
        ).start()
        await self.assertFailure(
            ensureDeferred(api.request("GET", "/healthz")), ResponseFailed
        )
