"""Node schemas: ComfyUI's `GET /object_info` reply, read from the vendored copy, a file or a live server.

Two input encodings exist in that reply and both are read here:
- V1 nodes: a COMBO is `[[opt, ...], {meta}]`, other inputs `["INT", {meta}]`;
- V3 (comfy_api) nodes: a COMBO is `["COMBO", {"options": [...], ...}]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov import bounded_http
from wanprov.bounded_http import Deadline
from wanprov.errors import NetworkError, WanprovError
from wanprov.redact import redact_text
from wanprov.resources import manifest_path
from wanprov.strict import loads_json
from wanprov.workflows.model_folders import FileInputs, load_file_inputs

DEFAULT_OBJECT_INFO = ("comfyui", "object_info.json")


class SchemaError(WanprovError):
    """The node schema (object_info) could not be read or is not an object_info reply."""

    code = "bad_object_info"


@dataclass(frozen=True)
class InputSpec:
    name: str
    category: str  # required | optional | hidden
    type: str  # "INT", "MODEL", "COMBO", ...; V1 combos are normalised to "COMBO"
    options: tuple[Any, ...] | None  # the COMBO's list, None for other types
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_file_list(self) -> bool:
        """An empty COMBO: the recorded server had no files in that models folder."""
        return self.options is not None and len(self.options) == 0


@dataclass(frozen=True)
class NodeSchema:
    class_type: str
    inputs: dict[str, InputSpec]
    outputs: tuple[str, ...]
    output_node: bool
    input_order: tuple[str, ...]  # required then optional, the editor's widget order

    def input(self, name: str) -> InputSpec | None:
        return self.inputs.get(name)


def parse_input(name: str, category: str, raw: Any) -> InputSpec:
    """Read one `INPUT_TYPES` entry in either encoding."""
    if isinstance(raw, str):  # hidden inputs are written as a bare type name
        return InputSpec(name, category, raw, None, {})
    if not isinstance(raw, list) or not raw:
        return InputSpec(name, category, "*", None, {})
    head = raw[0]
    meta = raw[1] if len(raw) > 1 and isinstance(raw[1], dict) else {}
    if isinstance(head, list):
        return InputSpec(name, category, "COMBO", tuple(head), meta)
    if head == "COMBO":
        options = meta.get("options", [])
        return InputSpec(name, category, "COMBO", tuple(options) if isinstance(options, list) else None, meta)
    return InputSpec(name, category, str(head), None, meta)


class ObjectInfo:
    """All node schemas of one ComfyUI, keyed by class_type. Parsed lazily per class.

    `recorded` is True for the vendored recording: its file lists are the recording host's (empty), not
    the user's, so file-name inputs accept any name there.
    """

    def __init__(
        self,
        raw: dict[str, Any],
        source: str,
        *,
        recorded: bool = False,
        file_inputs: FileInputs | None = None,
    ) -> None:
        self.raw = raw
        self.source = source
        self.recorded = recorded
        self.file_inputs = file_inputs or load_file_inputs()
        self._cache: dict[str, NodeSchema] = {}

    def __contains__(self, class_type: object) -> bool:
        return class_type in self.raw

    def get(self, class_type: str) -> NodeSchema | None:
        if class_type not in self.raw:
            return None
        if class_type not in self._cache:
            self._cache[class_type] = _parse_node(class_type, self.raw[class_type])
        return self._cache[class_type]


def _shaped(value: Any, kind: type, class_type: str, where: str) -> Any:
    """`value` (None read as empty) when it is a `kind`; else SchemaError naming the node and field: a
    server's answer of the wrong shape is a data error, not a crash."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise SchemaError(
            f"object_info node {class_type!r}: {where} is {type(value).__name__}, not {kind.__name__}",
            hint="point at a ComfyUI server (its GET /object_info), or a file saved from one",
        )
    return value


def _parse_node(class_type: str, raw: dict[str, Any]) -> NodeSchema:
    inputs: dict[str, InputSpec] = {}
    order: list[str] = []
    raw_inputs = _shaped(raw.get("input"), dict, class_type, "input")
    declared_order = _shaped(raw.get("input_order"), dict, class_type, "input_order")
    for category in ("required", "optional", "hidden"):
        section = _shaped(raw_inputs.get(category), dict, class_type, f"input.{category}")
        names = _shaped(declared_order.get(category), list, class_type, f"input_order.{category}") or list(
            section
        )
        for name in names:
            if isinstance(name, str) and name in section:
                spec = parse_input(name, category, section[name])
                if spec.type == "COMBO" and not isinstance(spec.options, tuple):
                    raise SchemaError(f"object_info node {class_type!r}: input {name!r} has no option list")
                inputs[name] = spec
                if category != "hidden":
                    order.append(name)
    outputs = _shaped(raw.get("output"), list, class_type, "output")
    return NodeSchema(
        class_type=class_type,
        inputs=inputs,
        outputs=tuple(str(t) if not isinstance(t, list) else "COMBO" for t in outputs),
        output_node=bool(raw.get("output_node", False)),
        input_order=tuple(order),
    )


def load_object_info(
    source: str | None = None, *, timeout: float = 30.0, deadline: Deadline | None = None
) -> ObjectInfo:
    """Load schemas from `source`: None (the vendored copy), a file path, or a ComfyUI URL.

    A URL may be the server's base (`http://host:8188`) or the full `.../object_info` endpoint; its answer
    is complete within `timeout` seconds (or by `deadline`) and at most OBJECT_INFO_MAX_BYTES.
    """
    if source is None:
        path = manifest_path(*DEFAULT_OBJECT_INFO)
        return ObjectInfo(_read_json_file(path), f"vendored {path}", recorded=True)
    if source.startswith(("http://", "https://")):
        deadline = deadline.clipped(timeout) if deadline else Deadline(timeout)
        return ObjectInfo(_fetch(source, deadline), redact_text(source))  # the source is printed in reports
    return ObjectInfo(_read_json_file(Path(source)), source)


def _read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaError(
            f"object_info file {path} does not exist",
            hint="pass --object-info with a saved `GET /object_info` reply or a ComfyUI URL",
        ) from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise SchemaError(
            f"object_info file {path} is not readable JSON: {exc}",
            hint="save it again with: curl -s http://127.0.0.1:8188/object_info > object_info.json",
        ) from exc
    return _checked(data, str(path))


OBJECT_INFO_MAX_BYTES = 256 << 20  # a ComfyUI with many node packs answers tens of MB


def _fetch(url: str, deadline: Deadline) -> dict[str, Any]:
    import requests  # deferred: only URL sources need it

    endpoint = url.rstrip("/")
    if not endpoint.endswith("/object_info"):
        endpoint += "/object_info"
    shown = redact_text(endpoint)
    try:
        reply = bounded_http.request(
            "GET", endpoint, deadline=deadline, max_bytes=OBJECT_INFO_MAX_BYTES, shown=shown
        )
        if reply.status >= 400:
            raise NetworkError(
                f"could not read node schemas from {shown}: HTTP {reply.status}",
                hint="is it a ComfyUI server? (curl it)",
            )
        data = reply.json()
    except requests.RequestException as exc:
        raise NetworkError(
            f"could not read node schemas from {shown}: {exc}",
            hint="is ComfyUI running and listening there? (curl it; check the --listen/--port flags)",
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise SchemaError(
            f"{shown} did not answer with JSON: {exc}", hint="point at a ComfyUI server"
        ) from exc
    return _checked(data, shown)


def _checked(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
        raise SchemaError(
            f"{where} is not an object_info reply (expected an object of node classes)",
            hint="use the reply of ComfyUI's GET /object_info",
        )
    return data
