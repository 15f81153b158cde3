"""The network as the workbench sees it: whether a server answers (offline classrooms), whether an address
is this machine only (teacher mode may listen there without a secret), and this machine's address on the local
network (what a phone opens, what a certificate names)."""

from __future__ import annotations

import ipaddress
import socket
import threading

LOOPBACK = "127.0.0.1"


def is_loopback(address: str | None) -> bool:
    """``127.x.x.x``, ``::1`` or ``localhost``; an empty address (every interface) or any other is not."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a network interface


def lan_address() -> str | None:
    """This machine's address on the local network (the interface a packet out would leave by; nothing is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if is_loopback(address) else address


SELF_SIGNED_HELP = ("Each browser warns once that nobody vouches for this certificate. On a laptop: Advanced, then "
                    "Proceed (Chrome, Edge) or Accept the Risk (Firefox). On a phone: Show Details (Safari) or Advanced "
                    "(Chrome), then visit the site. The fingerprint it shows is the one printed where the dashboard started.")


PROBE_HOST = "download.pytorch.org"  # torchvision's weights; its answer stands for "online" in general
PROBE_TIMEOUT_S = 2.0


def online(host: str = PROBE_HOST) -> bool:
    """Whether ``host`` answers on HTTPS within two seconds (a hanging DNS lookup counts as no)."""
    answered = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=PROBE_TIMEOUT_S).close()
            answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S)
    return bool(answered)
