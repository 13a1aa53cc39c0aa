"""Small read-only queries over an API-format workflow (node id -> {class_type, inputs})."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Prompt = Mapping[str, Any]


def nodes_of(prompt: Prompt, *class_types: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, node) of every node whose class_type is one of `class_types`, in id order."""
    found = [
        (str(i), n)
        for i, n in prompt.items()
        if isinstance(n, Mapping) and n.get("class_type") in class_types
    ]
    return sorted(
        found, key=lambda item: (not item[0].isdigit(), int(item[0]) if item[0].isdigit() else 0, item[0])
    )


def inputs(node: Mapping[str, Any]) -> dict[str, Any]:
    value = node.get("inputs")
    return value if isinstance(value, dict) else {}


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2


def upstream(prompt: Prompt, node_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node `node_id` depends on (depth first, each once), excluding itself."""
    seen = {node_id}
    stack = [node_id]
    while stack:
        current = prompt.get(stack.pop())
        if not isinstance(current, Mapping):
            continue
        for value in inputs(current).values():
            if is_link(value) and str(value[0]) not in seen and str(value[0]) in prompt:
                seen.add(str(value[0]))
                stack.append(str(value[0]))
                yield str(value[0]), prompt[str(value[0])]


def model_chain(prompt: Prompt, node_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Follow the `model` input upstream from `node_id` to its loader: [(id, node), ...] nearest first."""
    chain = []
    current = prompt.get(node_id)
    seen = {node_id}
    while isinstance(current, Mapping):
        link = inputs(current).get("model")
        if not is_link(link) or str(link[0]) in seen or str(link[0]) not in prompt:
            break
        seen.add(str(link[0]))
        chain.append((str(link[0]), prompt[str(link[0])]))
        current = prompt[str(link[0])]
    return chain


def next_free_id(prompt: Prompt) -> int:
    numeric = [int(i) for i in prompt if str(i).isdigit()]
    return max(numeric, default=0) + 1


def find_cycle(prompt: Prompt) -> list[str] | None:
    """One link cycle as [a, b, ..., a] (a depends on b ... depends on a), or None. Iterative, so a
    workflow of any depth cannot exhaust the stack; ComfyUI refuses such a graph when it executes."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in prompt:
        if state.get(str(start)):
            continue
        path: list[str] = [str(start)]
        pending: list[Iterator[str]] = [iter(_links_of(prompt, str(start)))]
        state[str(start)] = 1
        while pending:
            child = next(pending[-1], None)
            if child is None:
                state[path.pop()] = 2
                pending.pop()
                continue
            if state.get(child) == 1:
                return [*path[path.index(child) :], child]
            if child not in state:
                state[child] = 1
                path.append(child)
                pending.append(iter(_links_of(prompt, child)))
    return None


def _links_of(prompt: Prompt, node_id: str) -> list[str]:
    node = prompt.get(node_id)
    if not isinstance(node, Mapping):
        return []
    return [str(v[0]) for v in inputs(node).values() if is_link(v) and str(v[0]) in prompt]


def is_safe_file_name(name: str) -> bool:
    """A model/input file name ComfyUI can list: relative, inside its folder (subfolders allowed)."""
    parts = name.replace("\\", "/").split("/")
    return (
        bool(name)
        and not name.startswith(("/", "\\"))
        and ".." not in parts
        and "\0" not in name
        and (
            len(name) < 2 or name[1] != ":"  # C:\\ on a Windows host
        )
    )
