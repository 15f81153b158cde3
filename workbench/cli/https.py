"""`workbench dashboard --https`: a self-signed certificate, made once and kept in the run folder.

Browsers open the camera only on ``https://`` or ``localhost``, so a student's laptop or phone on the school's
network needs the dashboard served over HTTPS. A school server rarely has a certificate; this makes one for this
machine's names and addresses (`cryptography`), keeps it in ``<run folder>/https/`` (the key readable by its
owner only) and makes it anew when it nears its end or this machine's network address is not in it. Each browser
warns once about a certificate nobody vouches for; the fingerprint printed at start is what the teacher can
compare with the one the browser shows.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.files import write_atomically
from workbench.core.network import lan_address

FOLDER = "https"
DAYS = 365



def _names() -> tuple[list[str], list[str]]:
    """This machine's names and addresses, as a browser on the network may reach it."""
    names = sorted({"localhost", socket.gethostname()})
    network = lan_address()
    addresses = ["127.0.0.1", "::1"] + ([network] if network else [])
    return names, addresses


def _still_good(cert_path: Path, addresses: list[str]) -> bool:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    held = {str(a) for a in alternative.get_values_for_type(x509.IPAddress)}
    ends = cert.not_valid_after_utc
    return set(addresses) <= held and ends - datetime.datetime.now(datetime.timezone.utc) > datetime.timedelta(days=7)


def certificate(runs_dir: Path) -> tuple[Path, Path, str]:
    """(certificate, key, SHA-256 fingerprint) for serving from this machine, made if missing or stale."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = Path(runs_dir).expanduser() / FOLDER
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    names, addresses = _names()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (key_path.is_file() and _still_good(cert_path, addresses)):
            key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Transfer Workbench on {names[-1]}")])
            now = datetime.datetime.now(datetime.timezone.utc)
            alternative = [x509.DNSName(n) for n in names]
            alternative += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
            cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                    .not_valid_after(now + datetime.timedelta(days=DAYS))
                    .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .sign(key, hashes.SHA256()))
            key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
            write_atomically(key_path, lambda stream: stream.write(key_bytes), private=True)
            write_atomically(cert_path, lambda stream: stream.write(cert.public_bytes(serialization.Encoding.PEM)))
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as exc:
        raise WorkbenchError(f"cannot keep a certificate in {folder} ({exc.strerror or exc}); give a run folder "
                             f"you can write with --runs-dir") from None
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return cert_path, key_path, fingerprint
