"""Least exposure: the web server on loopback only, no table or router endpoints, no secret
in any log line or error."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams.local.broker import free_port, wait_port
from tests.integration.helpers import ROOT, publish, wait_for

pytestmark = pytest.mark.integration

DB_SECRET = "Db-pw-4e1f"  # PostgreSQL here trusts local connections: any password works
PSEUDONYM_SECRET = "Pseudonym-key-77aa"


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def outside_address() -> str | None:
    """An address of this machine that is not loopback (None if it has none)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent: picks the outgoing interface
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_exposure__web_on_loopback_without_tables_and_no_secret_in_logs(
        lifeline: dict[str, Any]) -> None:
    settings, env = lifeline["settings"], lifeline["env"]
    port = free_port()
    env["LIFELINE_WEB_PORT"] = str(port)
    env["LIFELINE_DATABASE_URL"] = settings.database_url.replace(
        "postgres@", f"postgres:{DB_SECRET}@")
    env["LIFELINE_PSEUDONYM_KEY"] = PSEUDONYM_SECRET
    log = lifeline["logs"] / "web-worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "streams", "worker", "-l", "info"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
        event = {"event_id": "e1", "user_id": "it-web-user", "type": "purchase",
                 "ts": 1767225600, "price": 10.0}
        publish(producer, settings.topic("user-events"),
                [(b"it-web-user", orjson.dumps(event))])
        producer.close()
        wait_port(port, timeout=120)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: status(f"{base}/") == 200, timeout=60, what="the web server")
        for path in ("/table/", "/table/profiles_for_user/", "/table/profiles_for_user/x/",
                     "/router/", "/router/profiles_for_user/get/"):
            assert status(base + path) == 404, path
        address = outside_address()
        if address is not None:  # nothing answers on the machine's other interfaces
            with socket.socket() as s:
                s.settimeout(2)
                assert s.connect_ex((address, port)) != 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    text = log.read_text(errors="replace")
    assert "postgres:***@" in text  # the configuration line was logged, redacted
    assert DB_SECRET not in text and PSEUDONYM_SECRET not in text


def test_exposure__migration_error_does_not_show_the_password() -> None:
    from streams.cli.admin import migrate

    closed = free_port()
    with pytest.raises(Exception) as err:
        migrate(f"postgresql+psycopg2://lifeline:{DB_SECRET}@127.0.0.1:{closed}/lifeline")
    assert "Connection refused" in str(err.value) or "connect" in str(err.value)
    assert DB_SECRET not in str(err.value) and DB_SECRET not in repr(err.value)


def test_exposure__faust_defaults_serve_tables_lifeline_does_not() -> None:
    """The 404s above come from Lifeline's settings: Faust's defaults serve /table, /router."""
    import faust

    from streams.app import app

    def prefixes(a: Any) -> set[str]:
        return {prefix for prefix, _ in a.web._enabled_blueprints()}

    default = faust.App("exposure-default", broker="memory://")
    assert {"/table", "/router"} <= prefixes(default)
    assert not {"/table", "/router"} & prefixes(app)
    assert app.conf.web_bind == "127.0.0.1" and default.conf.web_bind == "0.0.0.0"
