"""The one place that takes credentials out of URLs before anything is printed.

A user:password (or a token) in `HF_ENDPOINT`, `--object-info` or a git URL would otherwise reach text
output, JSON documents and - through them - Ansible's failure messages, which `no_log` does not cover.
"""

from __future__ import annotations

import re
from typing import Any

# scheme://userinfo@ : the userinfo is everything up to the last '@' before the host part ends.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*@)")
# token-like query parameters (?token=..., &access_token=..., &sig=...)
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:access_token|token|api_key|apikey|key|password|sig|signature)=)[^&#\s]*", re.IGNORECASE
)
MASK = "***"


def redact_text(text: str) -> str:
    """`text` with the userinfo of every URL in it, and token-like query values, replaced by ***."""
    if "://" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}{MASK}", text)


def redact(value: Any) -> Any:
    """Redact every string inside a JSON-like document (dicts, lists, tuples), leaving other values."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value
