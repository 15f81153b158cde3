"""Whether a server address is this machine only: teacher mode may listen there without a secret."""

from __future__ import annotations

import ipaddress

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
