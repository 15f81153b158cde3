"""Whose page this is, and who may open the teacher's page: secrets kept in the browser, not in the address.

Each page has an id in its address (``?session=...``) so that a reload finds its job. An address is easily
copied (shown on a projector, pasted in a chat), so the id says *which* page, never *whose*. Whose is an
owner token: a random secret the first visit writes into a cookie (``workbench_owner``, by a line of
JavaScript: Streamlit reads cookies, `st.context.cookies`, but cannot set them) that the browser sends with
every later connection. The first browser to open a page id claims it (the server keeps a hash of its token
per page id), so a reload or another tab in the same browser is the same person, while the same address
opened in another browser shows that page's progress read-only: no Stop, no settings, no name, no folder path.

A teacher page open to the network asks once for the teacher's secret and keeps a hash of it in the
browser the same way (``workbench_teacher``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading

import streamlit as st

OWNER_COOKIE = "workbench_owner"
TEACHER_COOKIE = "workbench_teacher"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,86}")  # what `secrets.token_urlsafe` writes; anything else is made anew
_KEPT_DAYS = 365
MAX_PAGES = 100_000  # claims kept per server (the oldest go first): a class makes a few hundred


def _digest(text: str, purpose: str) -> str:
    return hashlib.sha256(f"workbench {purpose}\0{text}".encode()).hexdigest()


def sent_cookie(name: str) -> str:
    """A cookie the browser sent when this page connected ("" if none)."""
    value = st.context.cookies.get(name)
    return value if isinstance(value, str) else ""  # (a page run by AppTest has no browser)


def remember_in_browser(where) -> None:
    """Write this page's owner token and teacher key into cookies, sent with every later connection to this
    server: a tiny script element, drawn ``where`` nothing follows it (so that nothing moves between runs), on
    every run until the browser sends them back."""
    kept = {OWNER_COOKIE: st.session_state.get("_owner_token"), TEACHER_COOKIE: st.session_state.get("_teacher_key")}
    lines = [f"document.cookie = '{name}={value}; path=/; max-age={_KEPT_DAYS * 86400}; SameSite=Strict';"
             for name, value in kept.items() if value and sent_cookie(name) != value]  # [A-Za-z0-9_-] only
    if lines:
        where.html(f"<script>{' '.join(lines)}</script>", unsafe_allow_javascript=True)


def browser_token() -> str:
    """This browser's owner token: the cookie it sent, else a new one (`remember_in_browser` writes it)."""
    token = st.session_state.get("_owner_token")
    if token is None:
        sent = sent_cookie(OWNER_COOKIE)
        token = sent if _TOKEN.fullmatch(sent) else secrets.token_urlsafe(24)
        st.session_state["_owner_token"] = token
    return token


def dataset_viewer(token: str) -> str:
    """Who owns a gathered dataset made in this browser: a hash of its token, kept in the dataset's manifest (the
    token itself never leaves the cookie and this server's memory)."""
    return _digest(token, "datasets")[:24]


class PageClaims:
    """Which browser owns each page id on this server: the first that opened it (a hash of its token)."""

    def __init__(self):
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def owns(self, page: str, token: str) -> bool:
        digest = _digest(token, "owner")
        with self._lock:
            held = self._owners.setdefault(page, digest)
            while len(self._owners) > MAX_PAGES:
                self._owners.pop(next(iter(self._owners)))
        return hmac.compare_digest(held, digest)

    def pages_of(self, token: str) -> set[str]:
        """Every page id this browser owns (its jobs are one person's, for the per-person queue limit)."""
        digest = _digest(token, "owner")
        with self._lock:
            return {page for page, held in self._owners.items() if hmac.compare_digest(held, digest)}


@st.cache_resource
def page_claims() -> PageClaims:
    """One registry per server. A restart forgets the claims, and with them nothing: jobs and settings live in
    the server too."""
    return PageClaims()


def teacher_admitted(secret: str) -> bool:
    """Whether this browser has given the teacher's ``secret`` (now or on an earlier visit); if not, the form."""
    key = _digest(secret, "teacher")
    if st.session_state.get("_teacher_key") == key or hmac.compare_digest(sent_cookie(TEACHER_COOKIE), key):
        st.session_state["_teacher_key"] = key
        return True
    st.info("This teacher page is open to the network: type the teacher secret (printed where the server started). "
            "This browser then keeps it.")
    typed = st.text_input("teacher secret", type="password", key="_teacher_typed")
    if typed:
        if hmac.compare_digest(_digest(typed, "teacher"), key):
            st.session_state["_teacher_key"] = key
            st.rerun()  # the page without the form, and the cookie written at its end
        st.error("that is not the teacher secret")
    return False
