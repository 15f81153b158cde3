"""Text from people and files, drawn as itself: Streamlit draws labels, captions and messages as Markdown.

A name typed on one page reaches every page (the queue, the class board), and a folder's, a class's or a
file's name reaches messages; as Markdown, ``![x](http://host/pixel)`` would make every browser fetch
that address and ``[here](http://host)`` would be a live link. `plain` escapes every ASCII punctuation
mark (CommonMark shows an escaped mark as itself: no link, image, emphasis, ``:emoji:``, ``:red[colour]``
or ``$maths$``) and folds line breaks. Streamlit also links bare addresses (``https://...``, ``www.``,
``a@b.c``) found in the text after the escapes are read, so an invisible zero-width space goes after
``http``, ``https`` and ``www`` and after ``@`` wherever a link could start: the page shows exactly what
was typed, and nothing in it is live.
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_BARE_LINK = re.compile(r"(https?(?=:)|www(?=\.)|@)", re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"


def plain(text: object) -> str:
    """``text`` as Markdown that shows exactly those characters, on one line, with no live link."""
    text = _BARE_LINK.sub(r"\1" + ZERO_WIDTH_SPACE, " ".join(str(text).split()))
    return _PUNCTUATION.sub(r"\\\1", text)
