# -*- test-case-name: tests.integration.test_api_auth -*-
"""
The JWT auth case table of the v0.5 API, as data, run against both
protocols (L{tests.integration.test_api_auth}): tokens that do not verify
(401, gRPC UNAUTHENTICATED), principals and the ids they may name (403,
gRPC PERMISSION_DENIED) for every kind of operation, and the paths that
stay open.

Each case sets the scene with an admin token, then sends one request
with the token the case names (or none) through the protocol under test.
"""

import time
from dataclasses import replace
from urllib.parse import quote

from resonate.api.codec import (
    encodeCursor,
    encodeScheduleCursor,
    parseScheduleSearchArgs,
    parseSearchArgs,
)
from resonate.api.tokens import TokenVerifier
from resonate.metrics import Metrics
from resonate.model.routing import Route
from tests.support.apicases import (
    NotExpressible,
    acquire,
    claimTask,
    complete,
    completeTask,
    create,
    createSchedule,
    deleteSchedule,
    dispatch,
    heartbeat,
    read,
    readSchedule,
    release,
)
from tests.integration.test_metrics import samples
from tests.support.jwttools import KeyPair, hmacToken, unsignedToken

ISSUER = "https://issuer.example"
AUDIENCE = "resonate"

#: Promises "team-a/jobs/..." and "team-b/jobs/..." get a task.
ROUTES = [
    Route("a-jobs", "/team-a/jobs/*", "workers", "q"),
    Route("b-jobs", "/team-b/jobs/*", "workers", "q"),
]

#: A key pair of each type (made once: an RSA key takes a while), and
#: another of the same type, whose signatures the server must refuse.
KEYS = {kind: KeyPair(kind) for kind in ("rsa", "ec", "ed25519")}
OTHER_KEYS = {kind: KeyPair(kind) for kind in KEYS}


def verifierFor(keys):
    """
    The server's verifier for C{keys}, with an issuer and an audience.
    """
    return TokenVerifier(keys.publicPEM, issuer=ISSUER, audience=AUDIENCE)


def bearer(token):
    return "Bearer " + token


def signed(expiresIn=3600, **claims):
    """
    A token spec: a token signed with the server's key, with the right
    issuer and audience unless C{claims} say otherwise (L{None}: left out).
    """
    def make(keys):
        payload = {"iss": ISSUER, "aud": AUDIENCE}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return bearer(keys.token(expiresIn=expiresIn, **payload))

    return make


def otherKey(keys):
    return bearer(OTHER_KEYS[keys.kind].token(role="admin", iss=ISSUER, aud=AUDIENCE))


def algNone(keys):
    return bearer(unsignedToken(role="admin", iss=ISSUER, aud=AUDIENCE))


def hmacWithPublicKey(keys):
    return bearer(hmacToken(keys.publicPEM, role="admin", iss=ISSUER, aud=AUDIENCE))


def tampered(keys):
    """
    A prefix token whose payload was swapped for an admin one, keeping its
    signature.
    """
    header, _, signature = signed(prefix="team-a/")(keys)[len("Bearer "):].split(".")
    _, admin, _ = signed(role="admin")(keys)[len("Bearer "):].split(".")
    return bearer(".".join([header, admin, signature]))


def raw(value):
    return lambda keys: value


ADMIN = signed(role="admin")
TEAM_A = signed(prefix="team-a/")
NO_TOKEN = None


def search(kind, pattern):
    return ("get", f"/{kind}?id={pattern}")


def cursorSearch(kind, pattern):
    """
    A search that goes on from a cursor whose query is C{pattern} (a
    cursor carries its whole query: a client can make one for any).
    """
    if kind == "promises":
        cursor = encodeCursor(replace(parseSearchArgs({"id": [pattern]}), sortId=1))
    else:
        cursor = encodeScheduleCursor(
            replace(parseScheduleSearchArgs({"id": [pattern]}), sortId=1)
        )
    return ("get", f"/{kind}?cursor={quote(cursor)}")


def collect():
    return ("post", "/gc", {"olderThan": 0, "dryRun": True})


#: The scene of the task rows: a routed promise of team-a (and one of
#: team-b), offered with counter 1.
OFFERED_A = [create("team-a/jobs/1"), dispatch()]
OFFERED_B = [create("team-b/jobs/1"), dispatch()]
CLAIM_A = claimTask(taskId="team-a/jobs/1", processId="team-a/p1")
CLAIM_B = claimTask(taskId="team-b/jobs/1", processId="team-b/p1")

# name, token spec (or NO_TOKEN), scene, request, expected HTTP code,
# expected error code or None.
CASES = [
    # Authentication: a token that does not verify is 401 (4010).
    ("no token", NO_TOKEN, [create("team-a/p")], read("team-a/p"), 401, 4010),
    ("basic, not bearer", raw("Basic dXNlcjpwYXNz"), [create("team-a/p")],
     read("team-a/p"), 401, 4010),
    ("bearer without a token", raw("Bearer "), [], read("team-a/p"), 401, 4010),
    ("malformed token", raw("Bearer not.a.jwt"), [], read("team-a/p"), 401, 4010),
    ("garbage token", raw("Bearer abc"), [], read("team-a/p"), 401, 4010),
    ("expired", signed(expiresIn=-60, role="admin"), [], read("team-a/p"), 401, 4010),
    ("no exp", signed(expiresIn=None, role="admin"), [], read("team-a/p"), 401, 4010),
    ("not yet valid", signed(role="admin", nbf=int(time.time()) + 3600), [],
     read("team-a/p"), 401, 4010),
    ("wrong signature", otherKey, [], read("team-a/p"), 401, 4010),
    ("tampered payload", tampered, [create("team-b/p")], read("team-b/p"), 401, 4010),
    ("wrong issuer", signed(role="admin", iss="https://elsewhere"), [],
     read("team-a/p"), 401, 4010),
    ("no issuer", signed(role="admin", iss=None), [], read("team-a/p"), 401, 4010),
    ("wrong audience", signed(role="admin", aud="someone-else"), [],
     read("team-a/p"), 401, 4010),
    ("alg none", algNone, [], read("team-a/p"), 401, 4010),
    ("HMAC keyed with the public key", hmacWithPublicKey, [], read("team-a/p"),
     401, 4010),
    ("no token on a create", NO_TOKEN, [], create("team-a/p"), 401, 4010),
    ("no token on a search", NO_TOKEN, [], search("promises", "team-a/*"), 401, 4010),
    ("no token on a lock", NO_TOKEN, [], acquire("team-a/r", "e", "team-a/p"),
     401, 4010),

    # Principals.
    ("admin names any id", ADMIN, [create("team-b/p")], read("team-b/p"), 200, None),
    ("admin role in any case", signed(role="Admin"), [create("team-b/p")],
     read("team-b/p"), 200, None),
    ("empty prefix names any id", signed(prefix=""), [create("team-b/p")],
     read("team-b/p"), 200, None),
    ("no prefix names nothing", signed(sub="someone"), [create("team-a/p")],
     read("team-a/p"), 403, 4038),
    ("a role that is not admin", signed(role="user"), [create("team-a/p")],
     read("team-a/p"), 403, 4038),
    ("a prefix that is not a string", signed(prefix=["team-a/"]), [create("team-a/p")],
     read("team-a/p"), 403, 4038),
    # The prefix is literal (as upstream): "team-a/" is not "team-ab/", but
    # "team-a" is.
    ("team-a/ cannot read team-ab/x", TEAM_A, [create("team-ab/x")],
     read("team-ab/x"), 403, 4038),
    ("team-a can read team-ab/x", signed(prefix="team-a"), [create("team-ab/x")],
     read("team-ab/x"), 200, None),
    ("team-a/ cannot create team-ab/x", TEAM_A, [], create("team-ab/x"), 403, 4038),
    ("team-a can create team-ab/x", signed(prefix="team-a"), [], create("team-ab/x"),
     201, None),
    ("403 does not say whether it exists", TEAM_A, [], read("team-b/nothing"),
     403, 4038),

    # Promises.
    ("create inside", TEAM_A, [], create("team-a/p"), 201, None),
    ("create outside", TEAM_A, [], create("team-b/p"), 403, 4038),
    ("read inside", TEAM_A, [create("team-a/p")], read("team-a/p"), 200, None),
    ("read outside", TEAM_A, [create("team-b/p")], read("team-b/p"), 403, 4038),
    ("complete inside", TEAM_A, [create("team-a/p")],
     complete("team-a/p", "RESOLVED"), 201, None),
    ("complete outside", TEAM_A, [create("team-b/p")],
     complete("team-b/p", "RESOLVED"), 403, 4038),
    ("search inside", TEAM_A, [create("team-a/p")], search("promises", "team-a/*"),
     200, None),
    ("search one id inside", TEAM_A, [], search("promises", "team-a/p"), 200, None),
    ("search everything", TEAM_A, [], search("promises", "*"), 403, 4038),
    ("search that could leave the prefix", TEAM_A, [],
     search("promises", "team-*"), 403, 4038),
    ("search of another prefix", TEAM_A, [], search("promises", "team-b/*"),
     403, 4038),
    ("search team-a* with team-a/", TEAM_A, [], search("promises", "team-a*"),
     403, 4038),
    ("admin searches everything", ADMIN, [], search("promises", "*"), 200, None),
    ("a cursor inside", TEAM_A, [], cursorSearch("promises", "team-a/*"), 200, None),
    ("a cursor whose query leaves the prefix", TEAM_A, [],
     cursorSearch("promises", "*"), 403, 4038),

    # Schedules: their id, and the ids their template makes.
    ("create schedule inside", TEAM_A, [],
     createSchedule("team-a/s", promiseId="team-a/{{.id}}.{{.timestamp}}"), 201, None),
    ("create schedule outside", TEAM_A, [],
     createSchedule("team-b/s", promiseId="team-a/{{.id}}"), 403, 4038),
    ("create schedule making ids outside", TEAM_A, [],
     createSchedule("team-a/s", promiseId="team-b/{{.id}}"), 403, 4038),
    ("create schedule whose template starts with an action", TEAM_A, [],
     createSchedule("team-a/s", promiseId="{{.id}}"), 403, 4038),
    ("create schedule whose template leaves the prefix", TEAM_A, [],
     createSchedule("team-a/s", promiseId="team-{{.id}}"), 403, 4038),
    ("read schedule inside", TEAM_A, [createSchedule("team-a/s")],
     readSchedule("team-a/s"), 200, None),
    ("read schedule outside", TEAM_A, [createSchedule("team-b/s")],
     readSchedule("team-b/s"), 403, 4038),
    ("delete schedule inside", TEAM_A, [createSchedule("team-a/s")],
     deleteSchedule("team-a/s"), 204, None),
    ("delete schedule outside", TEAM_A, [createSchedule("team-b/s")],
     deleteSchedule("team-b/s"), 403, 4038),
    ("search schedules inside", TEAM_A, [createSchedule("team-a/s")],
     search("schedules", "team-a/*"), 200, None),
    ("search schedules outside", TEAM_A, [], search("schedules", "*"), 403, 4038),
    ("a schedule cursor inside", TEAM_A, [], cursorSearch("schedules", "team-a/*"),
     200, None),
    ("a schedule cursor whose query leaves the prefix", TEAM_A, [],
     cursorSearch("schedules", "team-*"), 403, 4038),

    # Locks: the resource and the process.
    ("acquire inside", TEAM_A, [], acquire("team-a/r", "e", "team-a/p"), 201, None),
    ("acquire a resource outside", TEAM_A, [], acquire("team-b/r", "e", "team-a/p"),
     403, 4038),
    ("acquire for a process outside", TEAM_A, [], acquire("team-a/r", "e", "p"),
     403, 4038),
    ("release inside", TEAM_A, [acquire("team-a/r", "e", "team-a/p")],
     release("team-a/r", "e"), 204, None),
    ("release outside", TEAM_A, [acquire("team-b/r", "e", "team-b/p")],
     release("team-b/r", "e"), 403, 4038),
    ("heartbeat inside", TEAM_A, [acquire("team-a/r", "e", "team-a/p")],
     heartbeat("team-a/p"), 200, None),
    ("heartbeat outside", TEAM_A, [acquire("team-b/r", "e", "team-b/p")],
     heartbeat("team-b/p"), 403, 4038),

    # Tasks: a v0.5 task's id is its promise's.
    ("claim inside", TEAM_A, OFFERED_A, CLAIM_A, 200, None),
    ("claim outside", TEAM_A, OFFERED_B, CLAIM_B, 403, 4038),
    ("claim for a process outside", TEAM_A, OFFERED_A,
     claimTask(taskId="team-a/jobs/1", processId="p1"), 403, 4038),
    ("complete task inside", TEAM_A, OFFERED_A + [CLAIM_A],
     completeTask(taskId="team-a/jobs/1"), 200, None),
    ("complete task outside", TEAM_A, OFFERED_B + [CLAIM_B],
     completeTask(taskId="team-b/jobs/1"), 403, 4038),

    # Garbage collection names every id (HTTP only).
    ("gc as admin", ADMIN, [], collect(), 200, None),
    ("gc with an empty prefix", signed(prefix=""), [], collect(), 200, None),
    ("gc with a prefix", TEAM_A, [], collect(), 403, 4038),
    ("gc without a token", NO_TOKEN, [], collect(), 401, 4010),

    # Paths (HTTP only): the probes stay open, everything else asks.
    ("healthz open", NO_TOKEN, [], ("get", "/healthz"), 200, None),
    ("readyz open", NO_TOKEN, [], ("get", "/readyz"), 200, None),
    ("health open", NO_TOKEN, [], ("get", "/health"), 200, None),
    ("ready open", NO_TOKEN, [], ("get", "/ready"), 200, None),
    ("health open with a bad token", raw("Bearer abc"), [], ("get", "/healthz"),
     200, None),
    ("the console is left to its own auth", NO_TOKEN, [], ("get", "/console/"),
     404, 4045),
    ("unknown path without a token", NO_TOKEN, [], ("get", "/nope"), 401, 4010),
    ("unknown path with a token", TEAM_A, [], ("get", "/nope"), 404, 4045),
    ("an encoded probe path is not a probe", NO_TOKEN, [], ("get", "/%68ealthz"),
     401, 4010),
    ("openapi without a token", NO_TOKEN, [], ("get", "/openapi.yml"), 401, 4010),
    ("poll without a token", NO_TOKEN, [], ("get", "/poll/g/i"), 401, 4010),
    ("the root without POST asks", NO_TOKEN, [], ("get", "/"), 401, 4010),
]


class AuthCasesMixin:
    """
    Runs L{CASES}.  Mixed into a C{TestCase} that provides
    C{startAPI(**kwargs)} (a L{tests.support.apitools.LiveAPI}, started,
    over a fresh store) and C{sendAs(api, step, authorization)}, which
    sends the request under test through its protocol with the
    C{Authorization} value (or none) and returns an object with C{code},
    C{errorCode} and C{body}, or raises
    L{tests.support.apicases.NotExpressible}; and sets C{protocol}.
    """

    #: The fewest cases the protocol must be able to run.
    minimumCases = len(CASES)

    #: The C{type} label of the protocol's metrics.
    protocol = None

    async def startAuthAPI(self, keys):
        """
        An API with JWT auth on, verifying tokens of C{keys}, whose scene
        steps carry an admin token.
        """
        return await self.startAPI(
            routes=ROUTES, tokens=verifierFor(keys), authorization=ADMIN(keys)
        )

    async def test_authCases(self):
        """
        Every row of the auth case table answers as it says.
        """
        keys = KEYS["ec"]
        ran = 0
        for name, token, scene, request, code, errorCode in CASES:
            api = await self.startAuthAPI(keys)
            for step in scene:
                response = await api.perform(step)
                if response is not None:
                    self.assertLess(response.code, 300, f"{name}: scene {step}: {response!r}")
            authorization = None if token is None else token(keys)
            try:
                response = await self.sendAs(api, request, authorization)
            except NotExpressible:
                continue
            ran += 1
            self.assertEqual(response.code, code, f"{name}: {response!r}")
            if errorCode is not None:
                self.assertEqual(response.errorCode, errorCode, f"{name}: {response!r}")
            self.checkAnswer(name, response)
        self.assertGreaterEqual(ran, self.minimumCases)

    async def test_keyTypes(self):
        """
        Tokens signed with each key type verify with that type's public
        key (admin: anything; a prefix: its ids only), and tokens of the
        other types' keys do not.
        """
        for kind, keys in KEYS.items():
            api = await self.startAuthAPI(keys)
            response = await self.sendAs(api, create("team-b/p"), ADMIN(keys))
            self.assertEqual(response.code, 201, kind)
            response = await self.sendAs(api, read("team-b/p"), TEAM_A(keys))
            self.assertEqual((response.code, response.errorCode), (403, 4038), kind)
            response = await self.sendAs(api, read("team-a/q"), TEAM_A(keys))
            self.assertEqual((response.code, response.errorCode), (404, 4040), kind)
            for otherKind, otherKeys in KEYS.items():
                if otherKind == kind:
                    continue
                response = await self.sendAs(api, read("team-b/p"), ADMIN(otherKeys))
                self.assertEqual(
                    (response.code, response.errorCode), (401, 4010), (kind, otherKind)
                )

    async def test_counted(self):
        """
        Refusals are counted in the metrics with their code, as answers
        are: 401 (4010) and 403 (4038).
        """
        keys = KEYS["ec"]
        metrics = Metrics()
        api = await self.startAPI(
            metrics=metrics, tokens=verifierFor(keys), authorization=ADMIN(keys)
        )
        await self.sendAs(api, read("team-a/x"), None)
        await self.sendAs(api, read("team-a/x"), "Bearer abc")
        await self.sendAs(api, read("team-b/x"), TEAM_A(keys))
        counts = {k: float(v) for k, v in
                  samples(metrics.exposition(), "api_total_requests").items()}
        self.assertEqual(counts, {
            f'{{status="4010",type="{self.protocol}"}}': 2.0,
            f'{{status="4038",type="{self.protocol}"}}': 1.0,
        })

    def checkAnswer(self, name, response):
        """
        Check what the protocol adds to a case's answer (its headers, its
        codes).
        """
