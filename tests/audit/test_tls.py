"""TLS for ``fhir-server serve`` (issue 8 "Settings"; RFC 8446, RFC 5246): ``--ssl-certfile``/``--ssl-keyfile``
serve HTTPS with TLS 1.3 when the client can, TLS 1.2 when it cannot, and never anything older.
The certificate is a self-signed one made here for 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.audit.conftest import ServerProcess
from tests.conftest import Database


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def handshake(port: int, cafile: Path, low: ssl.TLSVersion, high: ssl.TLSVersion) -> str | None:
    ctx = ssl.create_default_context(cafile=str(cafile))
    if low < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("ALL:@SECLEVEL=0")  # let this client offer old versions: the server must refuse them
    ctx.minimum_version, ctx.maximum_version = low, high
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return tls.version()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_serve_over_tls(tmp_path: Path, pg_admin_url: str) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    server = ServerProcess(Database(pg_admin_url), args=("--ssl-certfile", str(cert), "--ssl-keyfile", str(key)),
                           verify=trust)
    try:
        with server.client() as c:
            meta = c.get("/metadata")
            assert meta.status_code == 200 and meta.json()["resourceType"] == "CapabilityStatement"
            assert c.get("/Patient", params={"_count": "1"}).status_code == 200
        best = ssl.TLSVersion.MAXIMUM_SUPPORTED
        assert handshake(server.port, cert, ssl.TLSVersion.TLSv1_2, best) == "TLSv1.3"  # preferred
        assert handshake(server.port, cert, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
        for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            # the client offers it; the server answers with alert 70 (protocol_version) or hangs up
            with pytest.raises(ssl.SSLError, match=r"ALERT_PROTOCOL_VERSION|UNEXPECTED_EOF"):
                handshake(server.port, cert, old, old)
        with pytest.raises(httpx.TransportError):  # no plain HTTP on a TLS port
            httpx.get(f"http://127.0.0.1:{server.port}/metadata", timeout=10)
    finally:
        server.stop()
