"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for notification tests."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Sink:
    host: str
    port: int
    login: str
    password: str
    messages: list = field(default_factory=list)  # email.message.EmailMessage
    logins: list = field(default_factory=list)

    def connection_json(self) -> str:
        """An Airflow SMTP connection (AIRFLOW_CONN_...) for this sink: plain SMTP with a login."""
        import json

        return json.dumps({"conn_type": "smtp", "host": self.host, "port": self.port, "login": self.login,
                           "password": self.password,
                           "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "harvest@localhost",
                                     "timeout": 10, "retry_limit": 1}})


class _Handler:
    def __init__(self, sink: Sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.sink.messages.append(msg)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def smtp_sink(login: str = "harvest", password: str = "smtp-pass-not-for-mail") -> Iterator[Sink]:
    sink = Sink("127.0.0.1", _free_port(), login, password)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
            login, password)
        sink.logins.append(ok)
        return AuthResult(success=ok)

    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port, authenticator=authenticate,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
