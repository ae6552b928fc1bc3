# -*- test-case-name: tests.unit.test_status -*-
"""
The 4-digit status codes of the v0.5 API.

Every answer the server gives carries one of these.  Its HTTP status is the
code divided by ten, and one table gives each its message and its gRPC
status code, so that the two protocols cannot drift apart.
"""

import enum


class Status(enum.IntEnum):
    """
    A status code, with the text the server sends for it.
    """

    OK = 2000
    CREATED = 2010
    NO_CONTENT = 2040

    FIELD_VALIDATION_FAILED = 4000
    UNAUTHORIZED = 4010
    PROMISE_ALREADY_RESOLVED = 4030
    PROMISE_ALREADY_REJECTED = 4031
    PROMISE_ALREADY_CANCELED = 4032
    PROMISE_ALREADY_TIMEDOUT = 4033
    LOCK_ALREADY_ACQUIRED = 4034
    TASK_ALREADY_TIMEDOUT = 4035
    TASK_ALREADY_COMPLETED = 4036
    TASK_INVALID_COUNTER = 4037
    # Not in the v0.5 contract: a JWT whose prefix does not cover an id
    # the request names (issue 19).
    FORBIDDEN = 4038
    PROMISE_NOT_FOUND = 4040
    SUBSCRIPTION_NOT_FOUND = 4041
    SCHEDULE_NOT_FOUND = 4042
    LOCK_NOT_FOUND = 4043
    TASK_NOT_FOUND = 4044
    NOT_FOUND = 4045
    METHOD_NOT_ALLOWED = 4050
    PROMISE_ALREADY_EXISTS = 4090
    SCHEDULE_ALREADY_EXISTS = 4091
    PAYLOAD_TOO_LARGE = 4130
    UNSUPPORTED_MEDIA_TYPE = 4150

    INTERNAL_SERVER_ERROR = 5000
    NETWORK_FAILURE = 5001
    STORE_FAILURE = 5002
    STORE_ENCODING_FAILURE = 5003
    SHUTTING_DOWN = 5030
    API_SUBMISSION_QUEUE_FULL = 5031
    AIO_SUBMISSION_QUEUE_FULL = 5032

    @property
    def httpCode(self):
        """
        The HTTP status code for this status: its code divided by ten.
        """
        return self.value // 10

    @property
    def grpcCodeName(self):
        """
        The name of the C{grpc.StatusCode} answered for this status
        (contract 2.10), e.g. C{"NOT_FOUND"}; C{"OK"} for a success.
        """
        return _TABLE[self][1]

    @property
    def isError(self):
        """
        Whether this status is an error (anything but 2xx).
        """
        return self.value >= 3000

    @property
    def message(self):
        """
        The human text sent with this status.
        """
        return _TABLE[self][0]

    @property
    def domain(self):
        """
        The error domain named in an envelope's details.
        """
        if self is Status.FIELD_VALIDATION_FAILED:
            return "validation"
        if self.value >= 5000:
            return "server"
        return "request"


_S = Status

# fmt: off
_TABLE = {
    # status: (message, gRPC status code name); the HTTP status is the
    # code divided by ten.
    _S.OK: ("The request was successful", "OK"),
    _S.CREATED: ("The request was successful", "OK"),
    _S.NO_CONTENT: ("The request was successful", "OK"),
    _S.FIELD_VALIDATION_FAILED: ("The request is invalid", "INVALID_ARGUMENT"),
    _S.UNAUTHORIZED: ("The request is unauthorized", "UNAUTHENTICATED"),
    _S.PROMISE_ALREADY_RESOLVED: (
        "The promise has already been resolved", "PERMISSION_DENIED"),
    _S.PROMISE_ALREADY_REJECTED: (
        "The promise has already been rejected", "PERMISSION_DENIED"),
    _S.PROMISE_ALREADY_CANCELED: (
        "The promise has already been canceled", "PERMISSION_DENIED"),
    _S.PROMISE_ALREADY_TIMEDOUT: (
        "The promise has already timed out", "PERMISSION_DENIED"),
    _S.LOCK_ALREADY_ACQUIRED: (
        "The lock is already acquired", "PERMISSION_DENIED"),
    _S.TASK_ALREADY_TIMEDOUT: (
        "The task has already timed out", "PERMISSION_DENIED"),
    _S.TASK_ALREADY_COMPLETED: (
        "The task has already been completed", "PERMISSION_DENIED"),
    _S.TASK_INVALID_COUNTER: (
        "The task counter is invalid", "PERMISSION_DENIED"),
    _S.FORBIDDEN: (
        "The request is forbidden", "PERMISSION_DENIED"),
    _S.PROMISE_NOT_FOUND: (
        "The specified promise was not found", "NOT_FOUND"),
    _S.SUBSCRIPTION_NOT_FOUND: (
        "The specified subscription was not found", "NOT_FOUND"),
    _S.SCHEDULE_NOT_FOUND: (
        "The specified schedule was not found", "NOT_FOUND"),
    _S.LOCK_NOT_FOUND: ("The specified lock was not found", "NOT_FOUND"),
    _S.TASK_NOT_FOUND: ("The specified task was not found", "NOT_FOUND"),
    _S.NOT_FOUND: ("The requested resource was not found", "NOT_FOUND"),
    _S.METHOD_NOT_ALLOWED: (
        "The method is not allowed for this resource", "INTERNAL"),
    _S.PROMISE_ALREADY_EXISTS: ("The promise already exists", "ALREADY_EXISTS"),
    _S.SCHEDULE_ALREADY_EXISTS: (
        "The schedule already exists", "ALREADY_EXISTS"),
    _S.PAYLOAD_TOO_LARGE: (
        "The request body is too large", "RESOURCE_EXHAUSTED"),
    _S.UNSUPPORTED_MEDIA_TYPE: (
        "The request body must be JSON", "INTERNAL"),
    _S.INTERNAL_SERVER_ERROR: (
        "There was an internal server error", "INTERNAL"),
    _S.NETWORK_FAILURE: ("There was a network failure", "INTERNAL"),
    _S.STORE_FAILURE: ("There was a store failure", "INTERNAL"),
    _S.STORE_ENCODING_FAILURE: (
        "There was a store encoding failure", "INTERNAL"),
    _S.SHUTTING_DOWN: ("The system is shutting down", "UNAVAILABLE"),
    _S.API_SUBMISSION_QUEUE_FULL: (
        "The api submission queue is full", "UNAVAILABLE"),
    _S.AIO_SUBMISSION_QUEUE_FULL: (
        "The aio submission queue is full", "UNAVAILABLE"),
}
# fmt: on
"""
Every status: its message and its gRPC status code, in one place beside the
rule for its HTTP status, so that the two protocols cannot drift apart.
"""
