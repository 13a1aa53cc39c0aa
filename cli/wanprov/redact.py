"""The one place that makes text safe to show: credentials out of URLs, control characters escaped.

A user:password (or a token) in `HF_ENDPOINT`, `--object-info` or a git URL would otherwise reach text
output, JSON documents and - through them - Ansible's failure messages, which `no_log` does not cover.

Text that came from a host, a server or a file (a GPU name, a doctor message, a server's error, a file name)
may hold newlines and terminal escape sequences: shown raw they set the terminal's title, write the
clipboard (OSC 52), clear the screen, or forge a whole line ("FLEET OK"). `shown()` escapes them, so what
the operator reads is what the bytes are; every text and table cell of untrusted origin passes through it,
and `clean()` does the same (keeping newlines) for every Ansible module result.
"""

from __future__ import annotations

import re
from typing import Any

# scheme://userinfo@ : the userinfo is everything up to the last '@' before the host part ends.
# (a path library turns scheme:// into scheme:/, so one slash counts too)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*:/{1,2})(?P<userinfo>[^/?#\s]*@)")
# token-like query parameters (?token=..., &access_token=..., &sig=...)
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:access_token|token|api_key|apikey|key|password|sig|signature)=)[^&#\s]*", re.IGNORECASE
)
MASK = "***"


def redact_text(text: str) -> str:
    """`text` with the userinfo of every URL in it, and token-like query values, replaced by ***."""
    if ":/" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}{MASK}", text)


def credentials_in(text: str) -> list[str]:
    """The credentials `redact_text` would mask in `text`: each URL's whole userinfo (user:password) and
    each token-like query value (8 characters or more: shorter ones would mask ordinary words too)."""
    if ":/" not in text:
        return []
    found = [m["userinfo"].rstrip("@") for m in _USERINFO.finditer(text) if len(m["userinfo"]) > 1]
    found += [
        value
        for value in (m.group()[len(m["key"]) :] for m in _SECRET_QUERY.finditer(text))
        if len(value) >= 8
    ]
    return found


def redact(value: Any) -> Any:
    """Redact every string inside a JSON-like document (dicts, lists, tuples), leaving other values."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


def _escape(char: str) -> str:
    code = ord(char)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return named.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


# C0 and C1 controls, DEL, and the bidirectional overrides and isolates (they reorder what a terminal shows)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape_control(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as a visible escape (\\x1b, \\n, \\u202e)."""
    pattern = _UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE
    return pattern.sub(lambda m: _escape(m.group()), text)


def shown(value: Any, *, multiline: bool = False) -> str:
    """`value` as text safe for a terminal or a log: credentials redacted, control characters escaped.
    With `multiline`, newlines stay and every line after the first is indented, so no line the value
    holds can pass for one of wanprov's own (a forged "FLEET OK")."""
    text = escape_control(redact_text(str(value)), keep_newlines=multiline)
    return text.replace("\n", "\n  ") if multiline else text


def clean(value: Any) -> Any:
    """A JSON-like document (a module result, a report) with every string redacted and its control
    characters escaped (newlines kept: Ansible shows them as they are meant); keys too."""
    if isinstance(value, str):
        return escape_control(redact_text(value), keep_newlines=True)
    if isinstance(value, dict):
        return {clean(key) if isinstance(key, str) else key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    return value
