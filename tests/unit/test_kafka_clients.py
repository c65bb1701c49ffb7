"""One factory secures every Kafka client: settings -> KafkaSecurity -> each client's options."""

from __future__ import annotations

import ast
import ssl
import subprocess
from pathlib import Path

import pytest

from streams.kafka_clients import KafkaSecurity
from streams.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "KafkaConsumer",
           "KafkaProducer", "KafkaAdminClient"}
SCRAM = {"LIFELINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
         "LIFELINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
         "LIFELINE_KAFKA_SASL_USERNAME": "lifeline"}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A self-signed CA / client certificate and key (openssl)."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=lifeline-test", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return {"cafile": str(d / "cert.pem"), "certfile": str(d / "cert.pem"),
            "keyfile": str(d / "key.pem")}


def test_kafka_settings__password_from_file_and_never_in_repr(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("pw-from-file\n")
    s = Settings.from_env({**SCRAM, "LIFELINE_KAFKA_SASL_PASSWORD_FILE": str(secret)})
    assert s.kafka.client_options() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "lifeline", "sasl_plain_password": "pw-from-file"}
    assert "pw-from-file" not in repr(s) + s.describe()


@pytest.mark.parametrize(("env", "message"), [
    ({"LIFELINE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "must be one of"),
    ({**SCRAM, "LIFELINE_KAFKA_SASL_MECHANISM": "GSSAPI",
      "LIFELINE_KAFKA_SASL_PASSWORD": "pw-secret"}, "needs a SASL mechanism"),
    ({**SCRAM}, "needs a SASL username and password"),
    ({"LIFELINE_KAFKA_SASL_USERNAME": "u", "LIFELINE_KAFKA_SASL_PASSWORD": "pw-secret"},
     "need a SASL protocol"),
    ({"LIFELINE_KAFKA_SECURITY_PROTOCOL": "SSL", "LIFELINE_KAFKA_SSL_CERTFILE": "c.pem"},
     "both its certificate and key"),
    ({**SCRAM, "LIFELINE_KAFKA_SASL_PASSWORD": "pw-secret",
      "LIFELINE_KAFKA_SASL_PASSWORD_FILE": "/x"}, "not both"),
    ({**SCRAM, "LIFELINE_KAFKA_SASL_PASSWORD_FILE": "/no/such/file"}, "cannot read"),
])
def test_kafka_settings__bad_values_refused_without_echoing_the_password(
        env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        Settings.from_env(env)
    assert "pw-secret" not in str(err.value)


def test_kafka_security__tls_context_verifies_brokers_and_loads_client_cert(
        tls_files: dict[str, str]) -> None:
    security = KafkaSecurity(protocol="SASL_SSL", mechanism="PLAIN", username="u",
                             password="p", **tls_files)
    options = security.client_options()
    context = options["ssl_context"]
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "PLAIN"
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(c["subject"] == ((("commonName", "lifeline-test"),),)
               for c in context.get_ca_certs())


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_kafka_security__faust_gets_the_same_settings_as_plain_clients(
        protocol: str, tls_files: dict[str, str]) -> None:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    sasl = {"mechanism": "SCRAM-SHA-256", "username": "u", "password": "p"}
    security = KafkaSecurity(protocol=protocol, **(sasl if "SASL" in protocol else {}),
                             **({"cafile": tls_files["cafile"]} if "SSL" in protocol else {}))
    faust_options = dict(credentials_to_aiokafka_auth(security.faust_credentials()))
    plain = security.client_options()
    assert (faust_options.pop("ssl_context", None) is not None) == ("SSL" in protocol)
    plain.pop("ssl_context", None)
    assert faust_options == plain


async def test_kafka_security__every_client_class_takes_the_options(
        tls_files: dict[str, str]) -> None:
    """Each client Lifeline uses accepts the factory's output (construction validates it)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from kafka import KafkaConsumer, KafkaProducer

    options = KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-256", username="u",
                            password="p", cafile=tls_files["cafile"]).client_options()
    for cls in (AIOKafkaConsumer, AIOKafkaProducer, AIOKafkaAdminClient):
        client = cls(bootstrap_servers="127.0.0.1:1", **options)
        inner = getattr(client, "_client", None) or getattr(client, "client", None)
        assert inner is not None and inner._security_protocol == "SASL_SSL", cls
        assert inner._sasl_mechanism == "SCRAM-SHA-256", cls
    for sync_cls in (KafkaConsumer, KafkaProducer):
        client = sync_cls(bootstrap_servers="127.0.0.1:1", api_version=(2, 5), **options)
        assert client.config["security_protocol"] == "SASL_SSL"
        assert client.config["sasl_plain_username"] == "u"
        client.close()


def test_kafka_security__every_client_in_the_code_is_built_with_the_factory() -> None:
    """No Kafka client is constructed in streams/ or agents/ without the factory's options."""
    found = []
    for path in [*ROOT.glob("streams/**/*.py"), *ROOT.glob("agents/*.py")]:
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in CLIENTS:
                spread = [ast.unparse(k.value) for k in node.keywords if k.arg is None]
                # ``**options`` counts where the module builds ``options`` with the factory.
                ok = any("client_options" in s or (s == "options" and ".client_options()"
                                                   in text) for s in spread)
                found.append((path.name, name, ok))
    assert len(found) >= 10, found
    assert [f for f in found if not f[2]] == []


def test_settings__database_url_from_file_and_no_secret_in_errors(tmp_path: Path) -> None:
    url_file = tmp_path / "db-url"
    url_file.write_text("postgresql+psycopg2://app:pw-secret@db:5432/lifeline\n")
    s = Settings.from_env({"LIFELINE_DATABASE_URL_FILE": str(url_file)})
    assert s.database_url.endswith("@db:5432/lifeline")
    assert "pw-secret" not in repr(s) + s.describe() and "app:***@db" in s.describe()
    with pytest.raises(ValueError) as err:
        Settings.from_env({"LIFELINE_BROKER": "tcp://app:pw-secret@broker:9092"})
    assert "pw-secret" not in str(err.value) and "***@broker" in str(err.value)
    with pytest.raises(ValueError) as err:
        Settings.from_env({"LIFELINE_DATABASE_URL": "app:pw-secret@db/lifeline"})
    assert "pw-secret" not in str(err.value)
