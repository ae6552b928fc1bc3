"""
A self-signed certificate for tests that serve TLS on 127.0.0.1, and an
HTTP agent that trusts it (and nothing else).
"""

import datetime
import ipaddress
import os

from twisted.internet import reactor
from twisted.internet.ssl import Certificate
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - twisted[tls] brings it
    x509 = None

#: Why TLS tests cannot run here, or L{None}.
SKIP_TLS = (
    None if x509 is not None else "cryptography is not installed (twisted[tls])"
)


class SelfSigned:
    """
    A key and a self-signed certificate for C{127.0.0.1} and C{localhost},
    written as PEM files in a directory.

    @ivar keyPath: the private key file.
    @ivar certPath: the certificate file.
    @ivar certPEM: the certificate, PEM bytes.
    """

    def __init__(self, directory):
        """
        @param directory: an existing directory to write the files in.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.DNSName("localhost"),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.BasicConstraints(ca=True, path_length=None), critical=True
            )
            .sign(key, hashes.SHA256())
        )
        self.certPEM = certificate.public_bytes(serialization.Encoding.PEM)
        self.keyPath = os.path.join(directory, "key.pem")
        self.certPath = os.path.join(directory, "cert.pem")
        with open(self.keyPath, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        with open(self.certPath, "wb") as f:
            f.write(self.certPEM)

    def endpoint(self, port=0):
        """
        The endpoint description that serves TLS with this certificate on
        C{127.0.0.1:port}.
        """
        return (
            f"ssl:{port}:interface=127.0.0.1:"
            f"privateKey={self.keyPath}:certKey={self.certPath}"
        )

    def trustingAgent(self):
        """
        An agent that trusts this certificate only (no connection reuse).
        """
        return Agent(
            reactor,
            contextFactory=BrowserLikePolicyForHTTPS(
                trustRoot=Certificate.loadPEM(self.certPEM)
            ),
            pool=HTTPConnectionPool(reactor, persistent=False),
        )


class SelfSignedMixin:
    """
    For a trial test case that serves TLS: skipped where TLS cannot run
    (L{SKIP_TLS}); C{setUp} makes C{self.certificate}, a L{SelfSigned} in a
    directory of the test's own.
    """

    skip = SKIP_TLS

    def setUp(self):
        directory = self.mktemp()
        os.makedirs(directory)
        self.certificate = SelfSigned(directory)
