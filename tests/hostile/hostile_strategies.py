"""Hypothesis strategies for hostile values: what a careless or malicious file or flag could hold."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "..",
        "../../../../tmp/escape",
        "/etc/passwd",
        "a/../../b",
        "--upload-pack=touch /tmp/pwned",
        "-oProxyCommand=x",
        "x\ny",
        "x\x00y",
        "%n%h$HOME",
        '"; rm -rf / #',
        "{{ 7*7 }}",
        "0" * 64 + "\n",
        "A" * 64,
        "é" * 10,
        "NaN",
        "1e999",
        "-1",
        "https://user:pass@host/x",
        "file:///etc",
        "ext::sh -c touch",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    NASTY_TEXT,
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def mutated(document: dict[str, Any], draw: st.DrawFn, depth: int = 3) -> dict[str, Any]:
    """`document` with a few fields (at any depth) replaced by hostile values, removed or added."""
    result = dict(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        keys = sorted(result, key=str)
        action = draw(st.sampled_from(["replace", "delete", "add", "descend"]))
        if action == "add" or not keys:
            result[draw(st.one_of(st.text(max_size=8), NASTY_TEXT))] = draw(VALUES)
            continue
        key = draw(st.sampled_from(keys))
        if action == "delete":
            del result[key]
        elif action == "descend" and isinstance(result[key], dict) and depth > 0:
            result[key] = mutated(result[key], draw, depth - 1)
        else:
            result[key] = draw(VALUES)
    return result
