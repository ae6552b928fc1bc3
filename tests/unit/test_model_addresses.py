# -*- test-case-name: tests.unit.test_model_addresses -*-
"""
Tests for L{resonate.model.addresses}: the 2026 protocol's delivery
addresses.
"""

from twisted.trial.unittest import SynchronousTestCase

from resonate.model.addresses import (
    INVALID_LISTENER,
    INVALID_TARGET,
    BashAddress,
    Cast,
    GcpsAddress,
    HttpAddress,
    InvalidAddress,
    PollAddress,
    isValidAddress,
    parseAddress,
)


class ParseAddressTests(SynchronousTestCase):
    """
    Tests for L{parseAddress} and L{isValidAddress}.
    """

    def assertParses(self, cases):
        """
        Each address parses to the value its row gives, and is valid.
        """
        for address, expected in cases:
            self.assertEqual(parseAddress(address), expected, repr(address))
            self.assertTrue(isValidAddress(address), repr(address))

    def assertRefused(self, cases):
        """
        Each address is invalid, for the reason its row gives.
        """
        for address, reason in cases:
            parsed = parseAddress(address)
            self.assertIsInstance(parsed, InvalidAddress, repr(address))
            self.assertEqual(parsed, InvalidAddress(address, reason), repr(address))
            self.assertFalse(isValidAddress(address), repr(address))

    def test_poll(self):
        """
        C{poll://uni@group/id} and C{poll://any@group[/id]}: the user picks
        the cast, the host is the group, the rest of the path the id; the
        SDKs' own addresses are among them.  A unicast address without an
        id is valid (but undeliverable).
        """
        self.assertParses(
            [
                ("poll://uni@default/pid-1", PollAddress(Cast.UNI, "default", "pid-1")),
                ("poll://any@default", PollAddress(Cast.ANY, "default")),
                ("poll://any@default/", PollAddress(Cast.ANY, "default")),
                ("poll://any@default/w1", PollAddress(Cast.ANY, "default", "w1")),
                ("poll://uni@g", PollAddress(Cast.UNI, "g")),
                ("poll://uni@g/a/b", PollAddress(Cast.UNI, "g", "a/b")),
                ("poll://uni@g/x?q=1#f", PollAddress(Cast.UNI, "g", "x")),
                ("poll://uni@g?q", PollAddress(Cast.UNI, "g")),
                ("poll://uni:secret@g/x", PollAddress(Cast.UNI, "g", "x")),
                ("poll://uni@g:8080/x", PollAddress(Cast.UNI, "g", "x")),
                ("POLL://any@Group/X", PollAddress(Cast.ANY, "Group", "X")),
                ("poll://uni@g/a%20b", PollAddress(Cast.UNI, "g", "a b")),
                ("poll://uni@my%20group/x", PollAddress(Cast.UNI, "my group", "x")),
                (" poll://uni@g/x\n", PollAddress(Cast.UNI, "g", "x")),
                ("poll://uni@g/x\ty", PollAddress(Cast.UNI, "g", "xy")),
                ("poll://any@[::1]/x", PollAddress(Cast.ANY, "[::1]", "x")),
            ]
        )

    def test_http(self):
        """
        C{http://} and C{https://} with a host are push addresses; the URL
        is kept as given.
        """
        self.assertParses(
            [(url, HttpAddress(url)) for url in [
                "http://example.com",
                "http://example.com/hook",
                "https://example.com:8443/a/b?x=1#frag",
                "HTTPS://Example.COM/",
                "http://user:pw@example.com/",
                "http://127.0.0.1:8080/",
                "http://0x7f.1/",
                "http://[::1]:80/x",
                "http://bücher.example/",
                "http://example.com.",
                "http://localhost:/",
                "http://example.com\\hook",
            ]]
        )

    def test_gcpsAndBash(self):
        """
        C{gcps://project/topic} and any C{bash:} address are valid, though
        their transports are disabled by default.
        """
        self.assertParses(
            [
                ("gcps://proj/topic", GcpsAddress("proj", "topic")),
                ("gcps://proj/a/b", GcpsAddress("proj", "a/b")),
                ("bash://", BashAddress("bash://")),
                ("bash://docker/alpine", BashAddress("bash://docker/alpine")),
                ("bash:", BashAddress("bash:")),
                ("bash:script", BashAddress("bash:script")),
            ]
        )

    def test_refusedByTheReference(self):
        """
        The invalid addresses the reference lists: relative strings, other
        schemes, poll without C{uni}/C{any} or without a host, C{http://}.
        """
        self.assertRefused(
            [
                ("nope", "has no scheme"),
                ("ftp://example.com/", "has the unsupported scheme 'ftp'"),
                ("poll://default", "needs the user uni or any"),
                ("poll://uni@", "has credentials but no host"),
                ("http://", "has no host"),
            ]
        )

    def test_refused(self):
        """
        Every other way an address fails: no scheme, unknown schemes, a
        poll user that is not exactly C{uni} or C{any}, missing parts, bad
        ports and hosts, and the lenient WHATWG forms without C{//}.
        """
        self.assertRefused(
            [
                ("", "has no scheme"),
                ("/poll/g/id", "has no scheme"),
                ("1http://x", "has no scheme"),
                ("ws://example.com", "has the unsupported scheme 'ws'"),
                ("file:///tmp/x", "has the unsupported scheme 'file'"),
                ("poll://g/id", "needs the user uni or any"),
                ("poll://all@g/id", "needs the user uni or any"),
                ("poll://ANY@g/id", "needs the user uni or any"),
                ("poll://%75ni@g/id", "needs the user uni or any"),
                ("poll://uni@/id", "has credentials but no host"),
                ("poll://uni@:80/id", "has a port but no host"),
                ("poll://uni@g:abc/x", "has an invalid port 'abc'"),
                ("poll://uni@g:70000/x", "has a port out of range '70000'"),
                ("poll://uni@g^h/x", "has a character no host may contain"),
                ("poll://uni@[zz]/x", "has an invalid IPv6 address"),
                ("poll://uni@[::1/x", "has an unclosed IPv6 literal"),
                ("poll:uni@g", "needs poll://"),
                ("gcps://proj", "needs a topic"),
                ("gcps://proj/", "needs a topic"),
                ("gcps:///topic", "needs a project"),
                ("http:example.com", "needs http://"),
                ("https:/example.com", "needs https://"),
                ("http:///x", "has no host"),
                ("http://user@", "has credentials but no host"),
                ("http://:80/", "has a port but no host"),
                ("http://a b/", "has a character no host may contain"),
                ("http://a%20b/", "has a character no host may contain"),
                ("http://a<b/", "has a character no host may contain"),
                ("http://%ff/", "has a host that is not UTF-8 once percent-decoded"),
                ("http://example.com:99999/", "has a port out of range '99999'"),
                ("http://example.com:8o/", "has an invalid port '8o'"),
                ("http://1.2.3.999/", "has an invalid IPv4 address"),
                ("http://1.2.3.4.5/", "has an invalid IPv4 address"),
                ("http://[1::2::3]/", "has an invalid IPv6 address"),
                ("http://[::1]x/", "has text after its IPv6 literal"),
            ]
        )

    def test_notAString(self):
        """
        Anything but a string is invalid.
        """
        for address in [None, 1, ["poll://any@g"]]:
            self.assertEqual(
                parseAddress(address), InvalidAddress(address, "is not a string")
            )
            self.assertFalse(isValidAddress(address))

    def test_messages(self):
        """
        The API's 400 messages for an invalid target and listener are the
        reference's.
        """
        self.assertEqual(INVALID_TARGET, "Invalid resonate:target address")
        self.assertEqual(INVALID_LISTENER, "Invalid listener address")
