# -*- test-case-name: tests.unit.test_status -*-
"""
Errors that carry a status code.

Anything raised below the API adapters that the client should see is a
L{ResonateError}; everything else is an internal error and answers 5000.
"""

from resonate.status import Status


class ResonateError(Exception):
    """
    A failure with a L{Status} and, for validation failures, the problems
    found, one per field.

    @ivar status: the L{Status} to answer with.
    @ivar details: a list of C{(field, message)} pairs.
    """

    def __init__(self, status, message=None, details=()):
        self.status = Status(status)
        self.message = message or self.status.message
        self.details = list(details)
        super().__init__(self.status, self.message, self.details)

    def __str__(self):
        return self.message


class ValidationError(ResonateError):
    """
    The request failed field validation (4000); C{details} names each field.
    """

    def __init__(self, details):
        super().__init__(Status.FIELD_VALIDATION_FAILED, details=details)


class StoreFailure(ResonateError):
    """
    The store could not carry out a transaction (5002).
    """

    def __init__(self, message=None):
        super().__init__(Status.STORE_FAILURE, message)
