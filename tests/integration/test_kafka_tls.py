"""Kafka over TLS end to end: every client Lifeline creates talks to the broker through TLS.

Tansu 0.6 (the test broker) cannot serve TLS itself (its ``--cert`` and ``--key`` options
exclude each other) nor SASL with a user (``--authentication`` refuses ``tansu user create``
too, and its only storage here is memory). So Tansu listens in plain text on a private port
and advertises the port of a TLS-terminating proxy started here: every connection a client
makes after bootstrap goes through TLS, checked against a CA of this test. The worker
(Faust's consumer, producer and admin, the model follower, the changelog completion, the
start-offset and gap readers), topic creation, replay and the report all run with
``LIFELINE_KAFKA_SECURITY_PROTOCOL=SSL``; a plain-text client cannot talk to that port.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from streams.local.broker import free_port, tansu_binary, wait_port
from tests.integration.helpers import ROOT, wait_for

pytestmark = pytest.mark.integration


class TlsProxy:
    """Terminates TLS on ``port`` and forwards each connection to ``target`` in plain text."""

    def __init__(self, port: int, target: int, context: ssl.SSLContext) -> None:
        self.port, self.target, self.context = port, target, context
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def start(self) -> TlsProxy:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.context), self.loop).result(10)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture()
def tls_broker(tmp_path: Path) -> Iterator[dict[str, Any]]:
    cert, key = tmp_path / "broker.pem", tmp_path / "broker-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    plain, secured = free_port(), free_port()
    with (tmp_path / "tansu.log").open("wb") as log:
        # Tansu advertises the proxy: after bootstrap every client connects through TLS.
        broker = subprocess.Popen(
            [str(tansu_binary()), "broker",
             "--listener-url", f"tcp://127.0.0.1:{plain}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{secured}",
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(plain)
    proxy = TlsProxy(secured, plain, server).start()
    try:
        yield {"port": secured, "cafile": str(cert), "proxy": proxy}
    finally:
        proxy.stop()
        broker.terminate()
        broker.wait(timeout=10)


def test_kafka_tls__worker_topics_replay_and_report_all_over_tls(
        tls_broker: dict[str, Any], database: str, tmp_path: Path) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from streams.cli.admin import create_topics
    from streams.cli.replay import replay
    from streams.cli.report import dead_letter_count
    from streams.settings import Settings

    run = uuid.uuid4().hex[:8]
    env = {**os.environ, "LIFELINE_BROKER": f"kafka://127.0.0.1:{tls_broker['port']}",
           "LIFELINE_KAFKA_SECURITY_PROTOCOL": "SSL",
           "LIFELINE_KAFKA_SSL_CAFILE": tls_broker["cafile"],
           "LIFELINE_DATABASE_URL": database, "LIFELINE_TOPIC_PREFIX": f"tls-{run}-",
           "LIFELINE_APP_ID": f"tls-{run}", "LIFELINE_PARTITIONS": "2",
           "LIFELINE_DATA_DIR": str(tmp_path / "faust"), "LIFELINE_SINK_INTERVAL": "0.2",
           "PYTHONPATH": str(ROOT)}
    settings = Settings.from_env(env)
    with pytest.raises(KafkaError):  # the port speaks TLS only
        KafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=5000)
    assert set(create_topics(settings).values()) == {"created"}
    events = [{"event_id": f"e{i}", "user_id": f"tls-u{i % 5}", "type": "purchase",
               "ts": 1767225600 + i, "price": 10.0} for i in range(40)]
    sent = asyncio.run(replay([*events, b"{not json"], bootstrap=settings.bootstrap,
                              topic=settings.topic("user-events"), progress=False,
                              security=settings.kafka))
    assert sent == 41
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "streams", "worker", "-l", "info",
                                   "--without-web"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            wait_for(lambda: conn.execute(sa.text(
                "SELECT coalesce(sum(events), 0) FROM user_profiles")).scalar() == 40,
                timeout=180, what="40 events applied over TLS")
        assert wait_for(lambda: dead_letter_count(settings) == 1, timeout=60,
                        what="the dead letter, counted over TLS")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        engine.dispose()
    text = (tmp_path / "worker.log").read_text(errors="replace")
    assert "lifeline worker: broker" in text and "(SSL)" in text
    assert tls_broker["proxy"].connections >= 5
