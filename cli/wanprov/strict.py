"""The one strict parser of every YAML and JSON text wanprov reads (files, servers' answers, hosts' reports).

Why strict: a duplicate key silently wins in PyYAML and json (two `sha256:` lines, the second one used); a
few hundred bytes of nested YAML aliases expand to gigabytes once anything walks the document (json.dumps,
redaction, a deep copy); a name with a newline or an escape sequence forges terminal output. So:

- duplicate keys are refused (YAML and JSON), naming the key and the line (YAML);
- YAML aliases are allowed (the shipped manifests share blocks with them) but their expansion is bounded:
  a document whose fully expanded size passes MAX_EXPANDED_NODES, or that refers to itself, is refused -
  checked on the node graph before anything is built, in time linear in the text;
- mapping keys holding control characters are refused;
- JSON's NaN/Infinity (not JSON) are refused, and nesting past MAX_DEPTH is an error, not a RecursionError.

Every failure is a StrictParseError (a ValueError) whose message says what and where; callers wrap it in
their own typed error, naming the file or the server.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MAX_EXPANDED_NODES = 200_000  # the largest shipped manifest has ~5,000 nodes; an object_info ~100,000
MAX_DEPTH = 200


class StrictParseError(ValueError):
    """A text that is not a document wanprov accepts (see the module docstring)."""


def has_control(text: str) -> bool:
    """Whether `text` holds a control character (C0, DEL, C1; Unicode category Cc)."""
    if text.isprintable():  # the common case, in C: no per-character loop
        return False
    return any(unicodedata.category(char) == "Cc" for char in text)


def _check_key(key: Any, where: str) -> None:
    if isinstance(key, str) and has_control(key):
        raise StrictParseError(f"{where}: the key {key!r} holds a control character")


# ---- JSON


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StrictParseError(f"duplicate key {key!r}")
        _check_key(key, "JSON object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise StrictParseError(f"{name} is not a JSON number")


def loads_json(text: str | bytes) -> Any:
    """Parse JSON strictly; StrictParseError (a ValueError) on any refusal or syntax error."""
    try:
        document = json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_refuse_constant)
    except StrictParseError:
        raise
    except RecursionError as exc:
        raise StrictParseError("nested too deeply") from exc
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError of bytes
        raise StrictParseError(str(exc)) from exc
    _check_depth(document)
    return document


def _check_depth(document: Any) -> None:
    """Refuse nesting past MAX_DEPTH (iteratively: the check itself must not recurse)."""
    stack = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise StrictParseError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


# ---- YAML


def _loader_class() -> type:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc, valid-type]
        def construct_document(self, node: Any) -> Any:
            _check_graph(node)
            return super().construct_document(node)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, Any] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    _check_key(key, f"line {key_node.start_mark.line + 1}")
                    try:
                        duplicate = key in seen
                    except TypeError:  # an unhashable key: the base class says so
                        break
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"duplicate key {key!r} (first on line {seen[key].start_mark.line + 1})",
                            key_node.start_mark,
                        )
                    seen[key] = key_node
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


_LOADER: type | None = None


def yaml_loader() -> type:
    """The strict YAML loader class (libyaml's CSafeLoader where available, else SafeLoader)."""
    global _LOADER
    if _LOADER is None:
        _LOADER = _loader_class()
    return _LOADER


def _check_graph(root: Any) -> None:
    """Refuse a node graph whose expansion passes MAX_EXPANDED_NODES or that holds a cycle (an alias to an
    enclosing node). Sizes are memoised per node, so shared (aliased) nodes are counted, not walked, again:
    linear in the number of distinct nodes."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    depth_exceeded = False
    # iterative post-order walk: (node, children-visited?)
    stack: list[tuple[Any, bool, int]] = [(root, False, 0)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > MAX_EXPANDED_NODES:
                raise StrictParseError(
                    f"the document expands to more than {MAX_EXPANDED_NODES} values "
                    "(nested aliases?); refusing it"
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise StrictParseError("an alias refers to a node that contains it (a recursive document)")
        if depth > MAX_DEPTH:
            depth_exceeded = True
            break
        on_path.add(key)
        stack.append((node, True, depth))
        stack.extend((child, False, depth + 1) for child in children if id(child) not in sizes)
    if depth_exceeded:
        raise StrictParseError(f"nested deeper than {MAX_DEPTH} levels")


def _children(node: Any) -> list[Any]:
    value = node.value
    if isinstance(value, list):
        if value and isinstance(value[0], tuple):  # a mapping: (key node, value node) pairs
            return [part for pair in value for part in pair]
        return value
    return []


def loads_yaml(text: str) -> Any:
    """Parse one YAML document strictly; StrictParseError naming the line on any refusal or syntax error."""
    import yaml

    try:
        return yaml.load(text, Loader=yaml_loader())
    except StrictParseError:
        raise
    except RecursionError as exc:
        raise StrictParseError("nested too deeply") from exc
    except yaml.YAMLError as exc:
        raise StrictParseError(str(exc)) from exc
