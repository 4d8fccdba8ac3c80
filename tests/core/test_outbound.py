"""The guard of requests to addresses users type (core.outbound): it resolves once, checks
every address, connects to the checked one (with the name in Host, SNI and the certificate
check), follows no redirect, and bounds time and size."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from core import outbound
from tests.hooks.receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def private_allowed(settings):
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True


REFUSED_ALWAYS = [
    "169.254.169.254",  # cloud metadata
    "169.254.1.1",  # link-local
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "100.100.100.200",  # Alibaba metadata
    "0.0.0.0",
    "::",
    "224.0.0.1",  # multicast (Python calls it global)
    "ff0e::1",
    "255.255.255.255",
    "240.0.0.1",  # reserved
    "::ffff:169.254.169.254",  # the same, in an IPv6 envelope
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254 (Python calls it global)
]
REFUSED_UNLESS_PRIVATE_ALLOWED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "fc00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]
ALLOWED = ["93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED_ALWAYS)
def test_metadata_link_local_multicast_and_unspecified_are_refused_whatever_the_settings(
    address,
):
    ip = ipaddress.ip_address(address)
    assert outbound.address_problem(ip, private_allowed=False) is not None
    assert outbound.address_problem(ip, private_allowed=True) is not None


@pytest.mark.parametrize("address", REFUSED_UNLESS_PRIVATE_ALLOWED)
def test_loopback_and_private_networks_are_refused_unless_allowed(address):
    ip = ipaddress.ip_address(address)
    assert outbound.address_problem(ip, private_allowed=False) is not None
    assert outbound.address_problem(ip, private_allowed=True) is None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert outbound.address_problem(ipaddress.ip_address(address), private_allowed=False) is None


def refused_code(url: str) -> str:
    with pytest.raises(ValidationError) as caught:
        outbound.validate_outbound_url(url)
    return caught.value.code


def test_registration_refuses_bad_urls_http_and_private_names_with_a_reason(settings):
    with outbound.resolver_override(
        {
            "pms.example.com": ["93.184.215.14"],
            "internal.example.com": ["10.1.2.3"],
            "mixed.example.com": ["93.184.215.14", "127.0.0.1"],
            "metadata.example.com": ["169.254.169.254"],
        }
    ):
        outbound.validate_outbound_url("https://pms.example.com/keystay")
        assert refused_code("ftp://pms.example.com/") == "invalid_url"
        assert refused_code("not a url") == "invalid_url"
        assert refused_code("https://user:pw@pms.example.com/") == "invalid_url"
        assert refused_code("https://" + "a" * 600 + ".com/") == "invalid_url"
        # A port no connection can use (the address parser takes any number).
        assert refused_code("https://pms.example.com:99999/") == "invalid_url"
        assert refused_code("https://93.184.215.14:0/") == "invalid_url"
        outbound.validate_outbound_url("https://pms.example.com:8443/keystay")
        assert refused_code("http://pms.example.com/") == "http_not_allowed"
        assert refused_code("https://internal.example.com/") == "private_address"
        # One private address among public ones refuses the name.
        assert refused_code("https://mixed.example.com/") == "private_address"
        assert refused_code("https://metadata.example.com/") == "private_address"
        assert refused_code("https://127.0.0.1/") == "private_address"
        assert refused_code("https://[::1]/") == "private_address"
        assert refused_code("https://nowhere.example.com/") == "unresolvable"
        settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
        outbound.validate_outbound_url("http://pms.example.com/")
        settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
        outbound.validate_outbound_url("https://internal.example.com/")
        assert refused_code("https://metadata.example.com/") == "private_address"


def test_the_message_names_the_kind_of_address_never_the_address(settings):
    with (
        outbound.resolver_override({"internal.example.com": ["10.1.2.3"]}),
        pytest.raises(ValidationError) as caught,
    ):
        outbound.validate_outbound_url("https://internal.example.com/")
    assert "10.1.2.3" not in caught.value.messages[0]
    assert "private" in caught.value.messages[0]


def test_numeric_spellings_of_loopback_are_refused_after_resolution():
    # "2130706433" and "127.1" are names the system resolver turns into 127.0.0.1.
    for url in ("https://2130706433/", "https://127.1/", "https://0x7f.0.0.1/"):
        with pytest.raises((outbound.OutboundRefused, OSError)):
            outbound.check_url(url)


def test_a_request_connects_to_the_checked_address_resolved_once(receiver, private_allowed):
    calls = []

    def resolver(host, port):
        calls.append(host)
        return ["127.0.0.1"]

    # "receiver.test" exists only in this resolver: reaching the receiver proves the
    # connection went to the checked address, not to a second lookup by the library.
    with outbound.resolver_override(resolver):
        answer = outbound.post(
            f"http://receiver.test:{receiver.port}/hook?x=1", content=b"{}", headers={}
        )
    assert answer.status_code == 200
    assert calls == ["receiver.test"]
    (request,) = receiver.requests
    assert request.headers["Host"] == f"receiver.test:{receiver.port}"
    assert request.path == "/hook?x=1"


def test_a_name_that_resolves_to_loopback_at_send_time_is_refused(receiver, settings):
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    with (
        outbound.resolver_override({"receiver.test": ["127.0.0.1"]}),
        pytest.raises(outbound.OutboundRefused) as caught,
    ):
        outbound.post(f"http://receiver.test:{receiver.port}/", content=b"{}", headers={})
    assert caught.value.code == "private_address"
    assert receiver.requests == []


def test_a_redirect_is_an_answer_never_followed(receiver, private_allowed):
    receiver.answer(302, b"", {"Location": f"{receiver.url}/elsewhere"})
    answer = outbound.post(f"{receiver.url}/hook", content=b"{}", headers={})
    assert answer.status_code == 302
    assert answer.location == f"{receiver.url}/elsewhere"
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_only_the_first_part_of_a_large_answer_is_read(receiver, private_allowed):
    receiver.answer(200, b"x" * (outbound.MAX_ANSWER_BYTES * 4))
    answer = outbound.post(receiver.url, content=b"{}", headers={})
    assert answer.truncated
    assert len(answer.body) == outbound.MAX_ANSWER_BYTES


def test_a_receiver_that_never_answers_times_out(private_allowed, monkeypatch):
    monkeypatch.setattr(outbound, "READ_TIMEOUT", 0.3)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        with pytest.raises(httpx.TimeoutException):
            outbound.post(
                f"http://127.0.0.1:{listener.getsockname()[1]}/", content=b"{}", headers={}
            )
    finally:
        for conn, _ in accepted:
            conn.close()
        listener.close()


# ------------------------------------------------------------------------ TLS


def _certificate(name: str, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_receiver(tmp_path):
    cert_file, key_file = _certificate("hooks.test", tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    server = Receiver(tls=server_tls)
    trusted = ssl.create_default_context(cafile=str(cert_file))
    yield server, trusted
    server.stop()


def test_https_to_a_pinned_address_sends_the_name_in_sni_and_checks_the_certificate(
    tls_receiver, settings
):
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    server, trusted = tls_receiver
    with outbound.resolver_override({"hooks.test": ["127.0.0.1"]}):
        answer = outbound.post(
            f"https://hooks.test:{server.port}/in", content=b"{}", headers={}, verify=trusted
        )
    assert answer.status_code == 200
    assert server.server_names == ["hooks.test"]
    assert server.requests[0].headers["Host"] == f"hooks.test:{server.port}"


def test_a_certificate_for_another_name_is_refused_even_at_the_right_address(
    tls_receiver, settings
):
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    server, trusted = tls_receiver
    with (
        outbound.resolver_override({"other.test": ["127.0.0.1"]}),
        pytest.raises(httpx.ConnectError),
    ):
        outbound.post(
            f"https://other.test:{server.port}/in", content=b"{}", headers={}, verify=trusted
        )
    assert server.requests == []


def test_a_long_lived_client_to_one_origin_checks_the_name_before_every_request(tls_receiver):
    """The Seam client's transport: HTTPS to the checked address with the name in SNI and
    the certificate check, the name resolved again before each request."""
    server, trusted = tls_receiver
    looked_up = []

    def resolver(host, port):
        looked_up.append(host)
        return ["127.0.0.1"]

    transport = outbound.OriginTransport(
        f"https://hooks.test:{server.port}",
        private_allowed=True,
        inner=httpx.HTTPTransport(verify=trusted),
    )
    with outbound.resolver_override(resolver), httpx.Client(transport=transport) as client:
        first = client.post(f"https://hooks.test:{server.port}/devices/list", json={})
        second = client.post(f"https://hooks.test:{server.port}/access_codes/list", json={})
        with pytest.raises(outbound.OutboundRefused):
            client.post(f"https://other.test:{server.port}/devices/list", json={})
    assert (first.status_code, second.status_code) == (200, 200)
    assert looked_up == ["hooks.test", "hooks.test"]
    assert set(server.server_names) == {"hooks.test"}
    assert [r.path for r in server.requests] == ["/devices/list", "/access_codes/list"]


def test_a_long_lived_client_refuses_loopback_unless_its_origin_may_be_private(receiver):
    transport = outbound.OriginTransport(
        f"http://seam.test:{receiver.port}", private_allowed=False
    )
    with (
        outbound.resolver_override({"seam.test": ["127.0.0.1"]}),
        httpx.Client(transport=transport) as client,
        pytest.raises(outbound.OutboundRefused) as caught,
    ):
        client.get(f"http://seam.test:{receiver.port}/")
    assert caught.value.code == "private_address"
    assert receiver.requests == []
