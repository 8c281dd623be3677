"""A fresh RSA key and self-signed certificate in a directory, for the provider's signing key (and, in
the tests, the service provider's key and the Mimecast simulator's TLS certificate): generated each
run, never kept in the repository."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def key_pair(directory: Path | str, name: str, common_name: str, *, ip_address: str = "") -> tuple[str, str]:
    """Write ``NAME.key`` (PEM, unencrypted, mode 0600) and ``NAME.crt`` into ``directory``; return
    their paths (key, certificate). With ``ip_address`` the certificate names that address (its
    subject alternative name), for a TLS server listening there."""
    directory = Path(directory)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    if ip_address:
        alternative = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip_address))])
        builder = builder.add_extension(alternative, critical=False)
    certificate = builder.sign(key, hashes.SHA256())
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)
