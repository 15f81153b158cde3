"""Phones into a dataset: a QR code on a student's page opens, on their phone, a page that adds photos to one class.

The phone is another browser, so it is not the student's page and could not change their dataset. The QR code
carries a *phone key* instead: a random secret the server maps to (dataset, class, owner) for `KEY_HOURS` hours,
that lets whoever holds it add photos to that one class (within the owner's quotas) and do nothing else; the
phone's page shows nothing of anyone's work. A phone's file picker offers its camera, and a file input needs no
HTTPS, so this works on a plain ``http://`` class server. The address is the one the student's browser used,
or, where that is this machine (``localhost``), this machine's address on the local network.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import segno
import streamlit as st

from workbench.core.errors import WorkbenchError
from workbench.core.network import SELF_SIGNED_HELP, is_loopback, lan_address
from workbench.dashboard.text import plain
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.gathered.quotas import Quotas
from workbench.data.gathered.shelf import DatasetShelf

KEY_HOURS = 2
PHONE = "phone"  # the query parameter


@dataclass(frozen=True)
class PhoneKey:
    shelf_root: Path
    dataset: str
    class_name: str
    viewer: str | None
    expires: float
    quotas: Quotas


class PhoneKeys:
    """The phone keys this server handed out (forgotten at restart: a student makes a new QR code)."""

    def __init__(self):
        self._keys: dict[str, PhoneKey] = {}
        self._lock = threading.Lock()

    def make(self, key: PhoneKey) -> str:
        token = secrets.token_urlsafe(18)
        with self._lock:
            now = time.time()
            self._keys = {t: k for t, k in self._keys.items() if k.expires > now}
            self._keys[token] = key
        return token

    def get(self, token: str) -> PhoneKey | None:
        with self._lock:
            key = self._keys.get(token)
        return key if key is not None and key.expires > time.time() else None


@st.cache_resource
def phone_keys() -> PhoneKeys:
    return PhoneKeys()


def page_base(url: str | None) -> str | None:
    """The address a phone on the same network opens: the page's own, with this machine's network address for
    ``localhost``; None where there is none (no network)."""
    parts = urlsplit(url or "")
    if not parts.hostname:
        return None
    host = parts.hostname
    if is_loopback(host):
        host = lan_address()
        if host is None:
            return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'http'}://{host}{port}{parts.path.rstrip('/')}/"


def phone_panel(shelf: DatasetShelf, dataset: GatheredDataset, class_name: str, viewer: str | None,
                base: str | None) -> None:
    """The QR code (made on request: each is a new key) for adding phone photos to ``class_name``."""
    if base is None:
        st.info("This machine has no network address a phone could open: upload the photos from this computer.")
        return
    st.caption(f"Scan the code with a phone on the same network: it opens a page that adds photos to "
               f"{plain(class_name)!s} only (for {KEY_HOURS} hours). Its file picker offers the phone's camera.")
    if base.startswith("https"):
        st.caption(SELF_SIGNED_HELP)
    if st.button(f"Show a QR code for {plain(class_name)}", key="phone_qr"):
        key = PhoneKey(shelf.root, dataset.name, class_name, viewer, time.time() + KEY_HOURS * 3600, shelf.quotas)
        st.session_state["_phone_link"] = (dataset.name, class_name, f"{base}?{PHONE}={phone_keys().make(key)}")
    kept = st.session_state.get("_phone_link")
    link = kept[2] if kept and kept[:2] == (dataset.name, class_name) else None  # only the class it adds to
    if link:
        image = io.BytesIO()
        segno.make(link, error="m").save(image, kind="png", scale=6, border=2)
        st.image(image.getvalue(), width=220, caption="open on a phone")
        st.code(link, language=None)


def phone_page(token: str) -> None:
    """What a phone sees: the class its key adds to, a file picker, an Add button; nothing else of the server."""
    key = phone_keys().get(token)
    if key is None:
        st.error("This phone link has expired or was never valid: make a new QR code on your page.")
        return
    shelf = DatasetShelf(key.shelf_root.parent, key.quotas)
    st.subheader(f"Add photos to {plain(key.class_name)} ({plain(key.dataset)})")
    if st.session_state.get("_phone_done"):
        st.success(plain(st.session_state.pop("_phone_done")))
    files = st.file_uploader("take or choose photos", type=["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"],
                             accept_multiple_files=True, key=f"phone_files:{st.session_state.get('_phone_n', 0)}")
    if st.button(f"Add {len(files or [])} photo(s)", type="primary", disabled=not files, key="phone_add"):
        try:
            added = shelf.add_images(key.dataset, key.class_name, [(f.name, f.getvalue()) for f in files],
                                     key.viewer, kind="phone")
        except WorkbenchError as exc:
            st.error(plain(exc))
            return
        st.session_state["_phone_done"] = (f"added {added.added} photo(s) as one session"
                                           + (f"; skipped {len(added.refused)}: {added.refused[0]}"
                                              if added.refused else ""))
        st.session_state["_phone_n"] = st.session_state.get("_phone_n", 0) + 1
        st.rerun()
