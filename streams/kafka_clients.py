"""Kafka transport security, applied by one factory to every Kafka client Lifeline creates.

:class:`KafkaSecurity` holds the protocol (``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT``,
``SASL_SSL``), the SASL mechanism (``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``) and
credentials, and the TLS files (CA, client certificate and key); streams/settings.py reads
them from ``LIFELINE_KAFKA_*``. From it come the keyword arguments of every plain client
(:meth:`KafkaSecurity.client_options`: aiokafka and kafka-python take the same names) and
Faust's ``broker_credentials`` (:meth:`KafkaSecurity.faust_credentials`). Nothing here logs
or prints the password: it is kept out of ``repr`` and :meth:`KafkaSecurity.describe`.

Imports no app (the CLI and tests use it without a worker).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, kw_only=True)
class KafkaSecurity:
    """How Lifeline's Kafka clients authenticate and encrypt.

    Parameters
    ----------
    protocol
        ``LIFELINE_KAFKA_SECURITY_PROTOCOL``: PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL.
    mechanism
        ``LIFELINE_KAFKA_SASL_MECHANISM``: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL only).
    username, password
        ``LIFELINE_KAFKA_SASL_USERNAME``; ``LIFELINE_KAFKA_SASL_PASSWORD`` or, better,
        ``LIFELINE_KAFKA_SASL_PASSWORD_FILE`` (a file holding it).
    cafile, certfile, keyfile
        ``LIFELINE_KAFKA_SSL_CAFILE`` (the CA that signed the brokers' certificates; default:
        the system's), ``LIFELINE_KAFKA_SSL_CERTFILE`` / ``LIFELINE_KAFKA_SSL_KEYFILE`` (a
        client certificate, for brokers that authenticate clients by TLS).

    >>> KafkaSecurity().client_options()
    {'security_protocol': 'PLAINTEXT'}
    >>> s = KafkaSecurity(protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-512",
    ...                   username="lifeline", password="s3cret")
    >>> sorted(s.client_options().items())  # doctest: +NORMALIZE_WHITESPACE
    [('sasl_mechanism', 'SCRAM-SHA-512'), ('sasl_plain_password', 's3cret'),
     ('sasl_plain_username', 'lifeline'), ('security_protocol', 'SASL_PLAINTEXT')]
    >>> "s3cret" in repr(s) or "s3cret" in s.describe()
    False
    >>> KafkaSecurity(protocol="SASL_SSL")
    Traceback (most recent call last):
    ...
    ValueError: SASL_SSL needs a SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
    """

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"Kafka security protocol must be one of {', '.join(PROTOCOLS)}, "
                             f"got {self.protocol!r}")
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                raise ValueError(f"{self.protocol} needs a SASL mechanism "
                                 f"({', '.join(MECHANISMS)})")
            if not self.username or not self.password:
                raise ValueError(f"{self.protocol} needs a SASL username and password")
        elif self.mechanism or self.username or self.password:
            raise ValueError(f"a SASL mechanism or credentials need a SASL protocol, "
                             f"not {self.protocol}")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("a client certificate needs both its certificate and key files")
        if not self.tls and (self.cafile or self.certfile):
            raise ValueError(f"TLS files need the SSL or SASL_SSL protocol, not {self.protocol}")

    @property
    def sasl(self) -> bool:
        """True when clients authenticate with SASL."""
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        """True when connections are encrypted with TLS."""
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client (None without TLS): verifies the brokers'
        certificates and host names against ``cafile`` (or the system's CAs)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cafile)
        if self.certfile is not None:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka and kafka-python clients (consumer, producer,
        admin): both libraries take the same names."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials`` for the app (None for plaintext)."""
        from faust.auth import SASLCredentials, SSLCredentials

        if self.sasl:
            return SASLCredentials(username=self.username, password=self.password,
                                   ssl_context=self.ssl_context(), mechanism=self.mechanism)
        if self.tls:
            return SSLCredentials(self.ssl_context())
        return None

    def describe(self) -> str:
        """What is used, never the password.

        >>> KafkaSecurity(protocol="SASL_SSL", mechanism="PLAIN", username="u",
        ...               password="p").describe()
        'SASL_SSL PLAIN as u'
        """
        parts = [self.protocol]
        if self.sasl:
            parts.append(f"{self.mechanism} as {self.username}")
        if self.certfile:
            parts.append(f"client certificate {self.certfile}")
        return " ".join(parts)
