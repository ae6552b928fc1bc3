# -*- test-case-name: tests.unit.test_status -*-
"""
Tests for L{resonate.status} and L{resonate.errors}.
"""

import grpc
from twisted.trial import unittest

from resonate.errors import ResonateError, StoreFailure, ValidationError
from resonate.status import Status


class StatusTableTests(unittest.SynchronousTestCase):
    """
    The one table from status to message, HTTP and gRPC code.
    """

    def test_everyStatus(self):
        """
        Every status has a message and a gRPC code that names a real
        C{grpc.StatusCode}; its HTTP status is its code divided by ten.
        """
        self.assertEqual(
            [Status.CREATED.httpCode, Status.TASK_INVALID_COUNTER.httpCode,
             Status.AIO_SUBMISSION_QUEUE_FULL.httpCode],
            [201, 403, 503],
        )
        for status in Status:
            self.assertTrue(status.message)
            self.assertIsInstance(
                getattr(grpc.StatusCode, status.grpcCodeName), grpc.StatusCode
            )

    def test_grpcCodes(self):
        """
        The gRPC codes are those of contract 2.10, by class of status.
        """
        expected = {
            200: "OK",
            201: "OK",
            204: "OK",
            400: "INVALID_ARGUMENT",
            401: "UNAUTHENTICATED",
            403: "PERMISSION_DENIED",
            404: "NOT_FOUND",
            405: "INTERNAL",
            409: "ALREADY_EXISTS",
            413: "RESOURCE_EXHAUSTED",
            415: "INTERNAL",
            500: "INTERNAL",
            503: "UNAVAILABLE",
        }
        for status in Status:
            self.assertEqual(
                (status, status.grpcCodeName), (status, expected[status.httpCode])
            )

    def test_domains(self):
        """
        Validation, request and server errors name their domains.
        """
        self.assertEqual(Status.FIELD_VALIDATION_FAILED.domain, "validation")
        self.assertEqual(Status.PROMISE_NOT_FOUND.domain, "request")
        self.assertEqual(Status.STORE_FAILURE.domain, "server")
        self.assertFalse(Status.CREATED.isError)
        self.assertTrue(Status.PROMISE_NOT_FOUND.isError)


class ErrorTests(unittest.SynchronousTestCase):
    """
    Tests for the errors that carry a status.
    """

    def test_resonateError(self):
        """
        A L{ResonateError} carries its status, the status's message unless
        given one, and its details.
        """
        error = ResonateError(4040)
        self.assertIs(error.status, Status.PROMISE_NOT_FOUND)
        self.assertEqual(str(error), "The specified promise was not found")
        self.assertEqual(ResonateError(Status.OK, "fine").message, "fine")

    def test_storeFailure(self):
        """
        A L{StoreFailure} is 5002 with its message.
        """
        error = StoreFailure("disk gone")
        self.assertIs(error.status, Status.STORE_FAILURE)
        self.assertEqual(error.message, "disk gone")

    def test_validationError(self):
        """
        A L{ValidationError} is 4000 naming each field.
        """
        error = ValidationError([("id", "is required")])
        self.assertIs(error.status, Status.FIELD_VALIDATION_FAILED)
        self.assertEqual(error.details, [("id", "is required")])
