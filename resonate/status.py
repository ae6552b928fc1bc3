# -*- test-case-name: tests.test_status -*-
"""
The 4-digit status codes of the v0.5 API.

Every answer the server gives carries one of these.  The HTTP status is the
code divided by ten; the gRPC code is looked up once, here, so that the two
protocols cannot drift apart.
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
        The HTTP status code for this status.
        """
        return self.value // 10

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
        return _MESSAGES[self]

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


_MESSAGES = {
    Status.OK: "The request was successful",
    Status.CREATED: "The request was successful",
    Status.NO_CONTENT: "The request was successful",
    Status.FIELD_VALIDATION_FAILED: "The request is invalid",
    Status.UNAUTHORIZED: "The request is unauthorized",
    Status.PROMISE_ALREADY_RESOLVED: "The promise has already been resolved",
    Status.PROMISE_ALREADY_REJECTED: "The promise has already been rejected",
    Status.PROMISE_ALREADY_CANCELED: "The promise has already been canceled",
    Status.PROMISE_ALREADY_TIMEDOUT: "The promise has already timed out",
    Status.LOCK_ALREADY_ACQUIRED: "The lock is already acquired",
    Status.TASK_ALREADY_TIMEDOUT: "The task has already timed out",
    Status.TASK_ALREADY_COMPLETED: "The task has already been completed",
    Status.TASK_INVALID_COUNTER: "The task counter is invalid",
    Status.PROMISE_NOT_FOUND: "The specified promise was not found",
    Status.SUBSCRIPTION_NOT_FOUND: "The specified subscription was not found",
    Status.SCHEDULE_NOT_FOUND: "The specified schedule was not found",
    Status.LOCK_NOT_FOUND: "The specified lock was not found",
    Status.TASK_NOT_FOUND: "The specified task was not found",
    Status.NOT_FOUND: "The requested resource was not found",
    Status.METHOD_NOT_ALLOWED: "The method is not allowed for this resource",
    Status.PROMISE_ALREADY_EXISTS: "The promise already exists",
    Status.SCHEDULE_ALREADY_EXISTS: "The schedule already exists",
    Status.PAYLOAD_TOO_LARGE: "The request body is too large",
    Status.UNSUPPORTED_MEDIA_TYPE: "The request body must be JSON",
    Status.INTERNAL_SERVER_ERROR: "There was an internal server error",
    Status.NETWORK_FAILURE: "There was a network failure",
    Status.STORE_FAILURE: "There was a store failure",
    Status.STORE_ENCODING_FAILURE: "There was a store encoding failure",
    Status.SHUTTING_DOWN: "The system is shutting down",
    Status.API_SUBMISSION_QUEUE_FULL: "The api submission queue is full",
    Status.AIO_SUBMISSION_QUEUE_FULL: "The aio submission queue is full",
}
