"""Convert between ComfyUI's two workflow formats.

- API format (what `POST /prompt` takes): `{id: {class_type, inputs}}`, links as `[node_id, slot]`.
- Editor format (what the editor saves/opens, `user/default/workflows/*.json`): `nodes` with
  `widgets_values` in the schema's widget order, and `links` rows `[id, from, from_slot, to, to_slot, type]`.

The frontend adds one extra widget value after inputs with `control_after_generate` (seeds: "fixed",
"randomize", ...), which is not an input; VideoHelperSuite stores its widgets as a name -> value object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wanprov.errors import ManifestError
from wanprov.workflows.schema import InputSpec, NodeSchema, ObjectInfo

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4


def is_editor_format(data: Any) -> bool:
    return (
        isinstance(data, dict) and isinstance(data.get("nodes"), list) and isinstance(data.get("links"), list)
    )


def _is_widget(spec: InputSpec) -> bool:
    return spec.type in WIDGET_TYPES


def _widget_names(schema: NodeSchema) -> list[str]:
    return [n for n in schema.input_order if _is_widget(schema.inputs[n])]


def _has_control_widget(spec: InputSpec) -> bool:
    return bool(spec.meta.get("control_after_generate"))


def to_api(data: Mapping[str, Any], schemas: ObjectInfo) -> dict[str, Any]:
    """Editor workflow -> API prompt. Muted nodes are dropped; Reroute and PrimitiveNode are resolved."""
    nodes = {int(n["id"]): n for n in data["nodes"] if isinstance(n, dict) and "id" in n}
    links = {int(link[0]): link for link in data["links"] if isinstance(link, list) and len(link) >= 5}

    def source_of(link_id: int) -> tuple[int, int] | None:
        seen = set()
        while link_id in links and link_id not in seen:
            seen.add(link_id)
            _, from_node, from_slot = links[link_id][:3]
            node = nodes.get(int(from_node))
            if node is None or node.get("type") != "Reroute":
                return int(from_node), int(from_slot)
            upstream = (node.get("inputs") or [{}])[0].get("link")
            if upstream is None:
                return None
            link_id = int(upstream)
        return None

    prompt: dict[str, Any] = {}
    for node_id, node in sorted(nodes.items()):
        class_type = node.get("type")
        if class_type in FRONTEND_ONLY or node.get("mode") == MUTED:
            continue
        if node.get("mode") == BYPASSED:
            raise ManifestError(
                f"editor workflow node {node_id} ({class_type}) is bypassed",
                hint="un-bypass or delete it, or export with Workflow > Export (API)",
            )
        schema = schemas.get(class_type)
        values: dict[str, Any] = {}
        widgets = node.get("widgets_values")
        if schema is not None and isinstance(widgets, dict):
            values.update({k: v for k, v in widgets.items() if k != "videopreview"})  # VHS: name -> value
        elif schema is not None and isinstance(widgets, list):
            position = 0
            for name in _widget_names(schema):
                if position >= len(widgets):
                    break
                if widgets[position] is not None:  # an unset optional widget
                    values[name] = widgets[position]
                position += 1
                if _has_control_widget(schema.inputs[name]):
                    position += 1  # the frontend's "fixed/randomize" companion value
        for slot in node.get("inputs") or []:
            link_id = slot.get("link")
            if link_id is None:
                continue
            source = source_of(int(link_id))
            if source is None:
                continue
            source_node = nodes.get(source[0], {})
            if source_node.get("type") == "PrimitiveNode":
                values[slot["name"]] = (source_node.get("widgets_values") or [None])[0]
            else:
                values[slot["name"]] = [str(source[0]), source[1]]
        entry: dict[str, Any] = {"class_type": class_type, "inputs": values}
        if node.get("title"):
            entry["_meta"] = {"title": node["title"]}
        prompt[str(node_id)] = entry
    return prompt


def from_api(prompt: Mapping[str, Any], schemas: ObjectInfo) -> dict[str, Any]:
    """API prompt -> a workflow the ComfyUI editor opens (laid out left to right by dependency depth)."""
    if all(str(k).isdigit() for k in prompt):  # keep the API ids so both files name nodes alike
        ids = {node_id: int(node_id) for node_id in prompt}
    else:
        ids = {node_id: index + 1 for index, node_id in enumerate(prompt)}
    depth = _depths(prompt)
    column_rows: dict[int, int] = {}
    nodes: list[dict[str, Any]] = []
    links: list[list[Any]] = []
    outgoing: dict[tuple[int, int], list[int]] = {}
    for node_id, node in prompt.items():
        schema = schemas.get(node["class_type"])
        if schema is None:
            raise ManifestError(
                f"node {node_id}: {node['class_type']} is not in {schemas.source}",
                hint="install the node pack, or check the workflow first",
            )
        api_inputs = node.get("inputs") or {}
        slots: list[dict[str, Any]] = []
        widgets: list[Any] = []
        for name in schema.input_order:
            spec = schema.inputs[name]
            value = api_inputs.get(name)
            if isinstance(value, list):
                links.append(
                    [
                        len(links) + 1,
                        ids[str(value[0])],
                        int(value[1]),
                        ids[node_id],
                        len(slots),
                        _output_type(schemas, prompt, value),
                    ]
                )
                outgoing.setdefault((ids[str(value[0])], int(value[1])), []).append(len(links))
                slot: dict[str, Any] = {"name": name, "type": spec.type, "link": len(links)}
                if _is_widget(spec):
                    slot["widget"] = {"name": name}
                slots.append(slot)
            elif not _is_widget(spec):
                slots.append({"name": name, "type": spec.type, "link": None})
            if _is_widget(spec):
                widgets.append(_widget_value(spec, value, name in api_inputs))
                if _has_control_widget(spec):
                    widgets.append("fixed")
        column = depth[node_id]
        row = column_rows.get(column, 0)
        column_rows[column] = row + 1
        extra_widgets = {
            k: v for k, v in api_inputs.items() if k not in schema.inputs and not isinstance(v, list)
        }
        node_out: dict[str, Any] = {
            "id": ids[node_id],
            "type": node["class_type"],
            "pos": [60 + 380 * column, 60 + 260 * row],
            "size": [340, 220],
            "flags": {},
            "order": 0,
            "mode": 0,
            "inputs": slots,
            "outputs": [
                {"name": t, "type": t, "links": [], "slot_index": i} for i, t in enumerate(schema.outputs)
            ],
            "properties": {"Node name for S&R": node["class_type"]},
            "widgets_values": widgets,
        }
        if node["class_type"] == "VHS_VideoCombine":  # VHS keeps its (per-format) widgets by name
            names = _widget_names(schema)
            node_out["widgets_values"] = {
                **dict(zip(names, [w for w in widgets if w != "fixed"], strict=False)),
                **extra_widgets,
            }
        title = (node.get("_meta") or {}).get("title")
        if title:
            node_out["title"] = title
        nodes.append(node_out)
    for node_out in nodes:
        for output in node_out["outputs"]:
            output["links"] = outgoing.get((node_out["id"], output["slot_index"]), [])
    order = sorted(nodes, key=lambda n: depth[next(k for k, v in ids.items() if v == n["id"])])
    for index, node_out in enumerate(order):
        node_out["order"] = index
    return {
        "last_node_id": len(nodes),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"wanprov": "rendered; API format is the source of truth"},
        "version": 0.4,
    }


def _widget_value(spec: InputSpec, value: Any, present: bool) -> Any:
    if isinstance(value, list):
        return None  # fed by a link
    if present:
        return value
    if "default" in spec.meta:
        return spec.meta["default"]
    return spec.options[0] if spec.options else None


def _output_type(schemas: ObjectInfo, prompt: Mapping[str, Any], link: list[Any]) -> str:
    schema = schemas.get(prompt[str(link[0])]["class_type"])
    return schema.outputs[int(link[1])] if schema and int(link[1]) < len(schema.outputs) else "*"


def _depths(prompt: Mapping[str, Any]) -> dict[str, int]:
    depth: dict[str, int] = {}

    def visit(node_id: str, trail: frozenset[str]) -> int:
        if node_id in depth:
            return depth[node_id]
        parents = [
            str(v[0])
            for v in (prompt[node_id].get("inputs") or {}).values()
            if isinstance(v, list) and str(v[0]) in prompt and str(v[0]) not in trail
        ]
        depth[node_id] = 1 + max((visit(p, trail | {node_id}) for p in parents), default=-1)
        return depth[node_id]

    for node_id in prompt:
        visit(node_id, frozenset())
    return depth
