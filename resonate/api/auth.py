# -*- test-case-name: tests.integration.test_auth -*-
"""
HTTP basic credentials, checked the same way for every protocol.

L{BasicCredentials} knows nothing about HTTP or gRPC: it is given the value
of an C{Authorization} header (or of C{authorization} gRPC metadata) and
says whether it carries the configured user name and password.
"""

import binascii
import hashlib
import hmac
import re
from base64 import b64decode, b64encode

#: The challenge sent with a refusal (RFC 7617).
CHALLENGE = b'Basic realm="resonate"'

# The scheme is case-insensitive; token68 is base64 here (RFC 7617).
_BASIC = re.compile(rb"[ \t]*basic[ \t]+([A-Za-z0-9+/]+=*)[ \t]*", re.IGNORECASE)


def _digest(data):
    return hashlib.sha256(data).digest()


class BasicCredentials:
    """
    One user name and password that requests must present.

    The comparison covers the user name and the password together and runs
    over fixed-size digests, so how long it takes says nothing about which
    part, or how much of it, was right.
    """

    def __init__(self, username, password):
        """
        @param username: the user name, a C{str} without C{":"} (RFC 7617:
            the first colon separates it from the password).
        @param password: the password, a C{str}.
        @raise ValueError: the user name contains a colon.
        """
        if ":" in username:
            raise ValueError("a basic auth user name cannot contain ':'")
        self.username = username
        self._expected = _digest(
            username.encode("utf-8") + b":" + password.encode("utf-8")
        )

    def __repr__(self):
        # Never show the password.
        return f"<BasicCredentials username={self.username!r}>"

    def check(self, authorization):
        """
        Whether an C{Authorization} value presents these credentials.

        @param authorization: the header value, C{bytes} or C{str}, or
            L{None} when there is none.
        @return: C{True} only for C{Basic base64(username:password)} with
            exactly these credentials.  Any other value (another scheme,
            bad base64, no colon, bytes that are not these credentials in
            UTF-8) is C{False}; this never raises.
        """
        if authorization is None:
            return False
        if isinstance(authorization, str):
            try:
                authorization = authorization.encode("ascii")
            except UnicodeEncodeError:
                return False
        if not isinstance(authorization, bytes):
            return False
        match = _BASIC.fullmatch(authorization)
        if match is None:
            return False
        try:
            presented = b64decode(match.group(1), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(_digest(presented), self._expected)


def basicAuthorization(username, password):
    """
    The C{Authorization} value a client sends for these credentials.

    @return: C{bytes}, e.g. C{b"Basic dXNlcjpwYXNz"}.
    """
    token = b64encode(f"{username}:{password}".encode("utf-8"))
    return b"Basic " + token
