"""The dashboard run by Streamlit's AppTest, for the tests that drive a page without a browser."""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

DASHBOARD = str(Path(__file__).resolve().parents[1] / "dashboard.py")


def app_page(session: str | None = None, browser: AppTest | None = None, argv: tuple | list | None = None) -> AppTest:
    """A page run once. ``session``: the page id in its address; ``browser``: opened in the same browser as that
    page (its owner token, as its cookie gives); ``argv``: the server's own options (what follows ``--``)."""
    if argv is not None:
        sys.argv[1:] = list(argv)
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    if session:
        at.query_params["session"] = session
    if browser is not None:
        at.session_state["_owner_token"] = browser.session_state["_owner_token"]
    at.run()
    assert not at.exception, at.exception
    return at
