"""Control characters from untrusted data (ids, labels, class names, file names) shown escaped on a
terminal or stderr, so that an export cannot retitle the window, clear the screen or recolour it. Data
files keep the values as they are; only what is printed goes through :func:`escape`."""

from __future__ import annotations

import re

#: C0 controls, DEL and C1 controls; newline and tab are allowed only where a caller says so.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as ``\\xNN`` (ESC as ``\\x1b``); with
    ``keep_newlines``, newline and tab stay as they are."""
    if keep_newlines:
        return re.sub("[\x00-\x08\x0b-\x1f\x7f-\x9f]", _shown, text)
    return _CONTROL.sub(_shown, text)
