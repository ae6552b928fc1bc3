# -*- test-case-name: tests.integration.test_console -*-
"""
Who is using the console, when the server verifies JWTs (issue 19).

The site does not check tokens on C{/console}: a browser cannot send a
header with every link it follows.  The console authenticates each request
itself, with the token of an C{Authorization: Bearer} header (a script, a
proxy that adds it) or, failing that, of its cookie, which the login page
sets once the server has verified the token pasted into it:

  - C{HttpOnly} (no script reads it), C{SameSite=Strict} (no other site's
    page sends it), C{Path=/console}, C{Secure} when the console is served
    over TLS;
  - it expires when the token does (C{Max-Age}), and every request verifies
    the token again, so a cookie never outlives its token's validity;
  - logging out replaces it with an expired one.

Without JWT auth every request is L{EVERYONE}, as the rest of the API
(basic auth, when set, is the site's).

What a principal may see (L{Scope}): an unrestricted one (admin, prefix
C{""}) everything; one with a prefix only the ids under it: lists are
searched within it (the id filter defaults to C{prefix*}), and an id or a
pattern outside it is refused (403) with a message that says which ids
the token allows.
"""

import time

import jwt

from resonate.api.tokens import EVERYONE, TokenRejected

#: The cookie that holds the token.
COOKIE = b"resonate_console"

#: Where the cookie is sent.
COOKIE_PATH = b"/console"


class ConsoleForbidden(Exception):
    """
    The principal may not see or do this (403); the message says why.
    """


class Sessions:
    """
    The console's authentication: a principal from a request, and the
    cookie that signs in and out.
    """

    def __init__(self, tokens, clock=time.time):
        """
        @param tokens: L{None} when JWT auth is off, else the
            L{resonate.api.tokens.TokenVerifier}.
        @param clock: the seconds since the epoch, for the cookie's life.
        """
        self._tokens = tokens
        self._clock = clock

    @property
    def enabled(self):
        """
        Whether the console asks who is using it.
        """
        return self._tokens is not None

    def principalOf(self, request):
        """
        The principal of C{request}: its Bearer token's, when it sends an
        C{Authorization} header that verifies, else its cookie's.

        @return: a L{resonate.api.tokens.Principal}, or L{None} when it
            has no token that verifies (the login page is the answer).
        """
        if self._tokens is None:
            return EVERYONE
        authorization = request.getHeader(b"authorization")
        if authorization is not None:
            try:
                return self._tokens.verifyAuthorization(authorization)
            except TokenRejected:
                # A proxy's own credentials, say: the cookie may do.
                pass
        token = request.getCookie(COOKIE)
        if token is None:
            return None
        try:
            return self._tokens.verify(token.decode("ascii"))
        except (TokenRejected, UnicodeDecodeError):
            return None

    def signIn(self, request, token):
        """
        Verify C{token} and, when it verifies, set the cookie that holds
        it until it expires.

        @return: its L{resonate.api.tokens.Principal}.
        @raise TokenRejected: it does not verify.
        """
        principal = self._tokens.verify(token)
        # Verified, so its exp is there and in the future.
        claims = jwt.decode(token, options={"verify_signature": False})
        lifetime = max(0, int(claims["exp"] - self._clock()))
        request.addCookie(
            COOKIE,
            token.encode("ascii"),
            path=COOKIE_PATH,
            max_age=str(lifetime).encode("ascii"),
            secure=request.isSecure(),
            httpOnly=True,
            sameSite="strict",
        )
        return principal

    def signOut(self, request):
        """
        Replace the cookie with an expired one.
        """
        request.addCookie(
            COOKIE,
            b"",
            path=COOKIE_PATH,
            max_age=b"0",
            expires=b"Thu, 01 Jan 1970 00:00:00 GMT",
            secure=request.isSecure(),
            httpOnly=True,
            sameSite="strict",
        )


def describe(principal):
    """
    Who a principal is, in a few words, for the page's header.
    """
    if principal.admin:
        return "admin"
    if principal.prefix is None:
        return "no ids"
    if principal.prefix == "":
        return "all ids"
    return f"ids {principal.prefix}*"


class Scope:
    """
    What one principal may see and do in the console.
    """

    def __init__(self, principal):
        self.principal = principal

    @property
    def unrestricted(self):
        return self.principal.unrestricted

    def _allowed(self):
        prefix = self.principal.prefix
        if prefix is None:
            return "your token allows no ids (it has no prefix)"
        return f"your token allows only ids that start with {prefix!r}"

    def pattern(self, idPattern):
        """
        The id pattern to search with: C{idPattern}, or, when blank, every
        id this principal may see.

        @raise ConsoleForbidden: the pattern can match ids outside them.
        """
        if self.unrestricted:
            return idPattern or "*"
        if self.principal.prefix is None:
            raise ConsoleForbidden(self._allowed())
        if not idPattern:
            return self.principal.prefix + "*"
        if not self.principal.allowsPattern(idPattern):
            raise ConsoleForbidden(
                f"id: {idPattern!r} can match ids outside yours: {self._allowed()} "
                f"(try {self.principal.prefix + '*'!r})"
            )
        return idPattern

    def check(self, resourceId):
        """
        @raise ConsoleForbidden: this principal may not name C{resourceId}.
        """
        if not self.principal.allows(resourceId):
            raise ConsoleForbidden(f"{resourceId!r} is not yours: {self._allowed()}")

    def allows(self, resourceId):
        return self.principal.allows(resourceId)
