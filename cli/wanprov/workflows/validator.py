"""Validate an API-format workflow (what `POST /prompt` takes) against node schemas.

Follows ComfyUI's own rules (execution.py `validate_prompt` / `validate_inputs`, comfy_execution/validation.py
`validate_node_input`) and uses its error kinds, so a finding here is what the server would answer - plus
what the server does NOT say: inputs a node does not have are dropped silently (`silent_noop_input`).
Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from wanprov.workflows.graph import find_cycle, is_safe_file_name, upstream
from wanprov.workflows.schema import InputSpec, NodeSchema, ObjectInfo

ERROR = "error"
WARNING = "warning"
NOTE = "note"

_CONVERTERS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


@dataclass(frozen=True)
class Issue:
    kind: str  # ComfyUI's error type where one exists (value_not_in_list, ...), else wanprov's own
    severity: str  # error | warning | note
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        parts = []
        if self.node_id is not None:
            parts.append(f"node {self.node_id}" + (f" ({self.class_type})" if self.class_type else ""))
        if self.input_name:
            parts.append(f"input {self.input_name!r}")
        return ", ".join(parts) or "workflow"


@dataclass
class ValidationResult:
    issues: list[Issue] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # ids of output nodes
    failed_outputs: list[str] = field(default_factory=list)  # output nodes the server would not run

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_node_input(received_type: str, input_type: str) -> bool:
    """ComfyUI's link type rule: equal, `*` on either side, or comma-separated sets that overlap."""
    if received_type == input_type or "*" in (received_type, input_type):
        return True
    received = {t.strip() for t in str(received_type).split(",")}
    expected = {t.strip() for t in str(input_type).split(",")}
    return bool(received & expected)


def validate_prompt(prompt: Mapping[str, Any], schemas: ObjectInfo) -> ValidationResult:
    """Validate every node of `prompt`; return every issue (the server stops at prompt-level ones)."""
    result = ValidationResult()
    known: dict[str, NodeSchema] = {}
    for node_id, node in prompt.items():
        if not isinstance(node, Mapping) or "class_type" not in node:
            result.issues.append(
                Issue(
                    "invalid_prompt",
                    ERROR,
                    "Cannot execute because a node is missing the class_type "
                    f"property (Node ID '#{node_id}')",
                    node_id=str(node_id),
                )
            )
            continue
        class_type = node["class_type"]
        schema = schemas.get(class_type) if isinstance(class_type, str) else None
        if schema is None:
            result.issues.append(
                Issue(
                    "invalid_prompt",
                    ERROR,
                    f"Cannot execute because node {class_type} does not exist "
                    "in this ComfyUI (a custom node pack not installed, or a typo)",
                    node_id=str(node_id),
                    class_type=str(class_type),
                )
            )
            continue
        known[str(node_id)] = schema
        if schema.output_node:
            result.outputs.append(str(node_id))
    if any(i.kind == "invalid_prompt" for i in result.issues):
        return result  # the server refuses the whole prompt here; node checks would be guesses
    if not result.outputs:
        result.issues.append(
            Issue(
                "prompt_no_outputs",
                ERROR,
                "Prompt has no outputs: no node saves or previews a result",
            )
        )
    validated: dict[str, bool] = {}
    for node_id in known:
        _validate_node(node_id, prompt, known, schemas, validated, result.issues)
    cycle = find_cycle(prompt)
    if cycle is not None:
        result.issues.append(
            Issue(
                "dependency_cycle",
                ERROR,
                "Dependency cycle detected: " + " -> ".join(f"#{i}" for i in cycle) + " (ComfyUI cannot "
                "order these nodes and refuses the prompt when it runs)",
                node_id=cycle[0],
            )
        )
        for node_id in cycle:
            validated[node_id] = False
    result.outputs.sort(key=_id_key)
    result.failed_outputs = [o for o in result.outputs if not _ancestors_ok(o, prompt, validated)]
    return result


def _id_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def _ancestors_ok(node_id: str, prompt: Mapping[str, Any], validated: dict[str, bool]) -> bool:
    """The node and everything upstream validated (iterative: any depth)."""
    return validated.get(node_id, False) and all(
        validated.get(i, False) for i, _ in upstream(prompt, node_id)
    )


def _is_link(value: Any) -> bool:
    return isinstance(value, list)


def _validate_node(
    node_id: str,
    prompt: Mapping[str, Any],
    known: dict[str, NodeSchema],
    schemas: ObjectInfo,
    validated: dict[str, bool],
    issues: list[Issue],
) -> bool:
    if node_id in validated:
        return validated[node_id]
    schema = known[node_id]
    inputs = prompt[node_id].get("inputs") or {}
    ok = True

    def add(kind: str, message: str, name: str | None, severity: str = ERROR) -> None:
        nonlocal ok
        if severity == ERROR:
            ok = False
        issues.append(Issue(kind, severity, message, node_id, schema.class_type, name))

    if not isinstance(inputs, Mapping):
        add("invalid_prompt", "`inputs` must be an object of input name -> value or link", None)
        validated[node_id] = False
        return False

    for name, spec in schema.inputs.items():
        if spec.category == "hidden":
            continue
        if name not in inputs:
            if spec.category == "required":
                add("required_input_missing", f"Required input is missing: {name}", name)
            continue
        value = inputs[name]
        if (
            isinstance(value, str)
            and (spec.is_file_list or schemas.file_inputs.folders_of(schema.class_type, name) is not None)
            and not is_safe_file_name(value)
        ):
            add("unsafe_file_name", f"{name}: {value!r} is not a file name inside its models folder", name)
            continue
        if _is_link(value):
            ok &= _check_link(name, spec, value, prompt, known, add)
        else:
            foreign = _file_list_is_foreign(schemas, schema.class_type, spec)
            # A recorded or empty list cannot refuse a name; the pinned loaders' extension rules can (a
            # live server's own list is the truth, e.g. a newer pack that lists .gguf).
            wrong_type = (
                schemas.file_inputs.unlisted_type(schema.class_type, name, value)
                if foreign and isinstance(value, str)
                else None
            )
            if wrong_type:
                add("value_not_in_list", f"Value not in list: {name}: {wrong_type}", name)
                continue
            _check_value(name, spec, value, add, foreign)

    for name in inputs:
        if name not in schema.inputs and not is_format_widget(schema, inputs, name):
            add(
                "silent_noop_input",
                f"{schema.class_type} has no input {name!r}: ComfyUI drops it without a word, so this "
                "setting does nothing",
                name,
                WARNING,
            )
    validated[node_id] = ok
    return ok


def _check_link(
    name: str,
    spec: InputSpec,
    value: list[Any],
    prompt: Mapping[str, Any],
    known: dict[str, NodeSchema],
    add: Any,
) -> bool:
    if len(value) != 2:
        add(
            "bad_linked_input",
            f"Bad linked input {name}: must be a length-2 list of [node_id, slot_index]",
            name,
        )
        return False
    source_id, slot = str(value[0]), value[1]
    if source_id not in prompt:
        add(
            "exception_during_validation",
            f"{name} links to node {source_id}, which is not in the workflow",
            name,
        )
        return False
    source = known.get(source_id)
    if source is None:
        return False  # reported on the source node itself
    if not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < len(source.outputs):
        add(
            "exception_during_validation",
            f"{name} links to output {slot!r} of node {source_id} "
            f"({source.class_type}), which has {len(source.outputs)} output(s)",
            name,
        )
        return False
    received = source.outputs[slot]
    if not validate_node_input(received, spec.type):
        add(
            "return_type_mismatch",
            f"Return type mismatch between linked nodes: {name}, received_type("
            f"{received}) mismatch input_type({spec.type}) from node {source_id} ({source.class_type})",
            name,
        )
        return False
    return True


def _file_list_is_foreign(schemas: ObjectInfo, class_type: str, spec: InputSpec) -> bool:
    """True when a file-name list says nothing about the user's host: empty (or only non-file entries
    like "pixel_space"), or from a recording made on another machine."""
    if spec.is_file_list:
        return True
    if schemas.file_inputs.folders_of(class_type, spec.name) is None:
        return False
    real = [o for o in spec.options or () if o not in schemas.file_inputs.pseudo]
    return schemas.recorded or not real


def _check_value(name: str, spec: InputSpec, value: Any, add: Any, foreign_file_list: bool = False) -> None:
    if isinstance(value, Mapping) and "__value__" in value:
        value = value["__value__"]  # ComfyUI unwraps this form too
    converter = _CONVERTERS.get(spec.type)
    if converter is not None:
        try:
            value = converter(value)
        except (TypeError, ValueError, OverflowError) as exc:
            add(
                "invalid_input_type",
                f"Failed to convert an input value to a {spec.type} value: {name}, {value!r}, {exc}",
                name,
            )
            return
        if isinstance(value, float) and not math.isfinite(value):
            add("invalid_input_type", f"{name}: {value} is not a finite {spec.type} value", name)
            return
    low, high = spec.meta.get("min"), spec.meta.get("max")
    try:
        if low is not None and value < low:
            add("value_smaller_than_min", f"Value {value} smaller than min of {low}: {name}", name)
        if high is not None and value > high:
            add("value_bigger_than_max", f"Value {value} bigger than max of {high}: {name}", name)
    except TypeError:
        pass  # ComfyUI compares the same way and would raise; a non-number range is a schema oddity
    if spec.options is None:
        return
    if value in spec.options:
        return
    if foreign_file_list:
        add(
            "unlisted_file_name",
            f"{name}: {value!r} is not listed, but this schema's file list is empty or "
            "was recorded on another host, so any file name is accepted here; --comfyui-dir (or "
            "--object-info of the live server) checks the file is really there",
            name,
            NOTE,
        )
        return
    if value not in spec.options:
        shown = f"(list of length {len(spec.options)})" if len(spec.options) > 20 else str(list(spec.options))
        add("value_not_in_list", f"Value not in list: {name}: {value!r} not in {shown}", name)


def is_format_widget(schema: NodeSchema, inputs: Mapping[str, Any], name: str) -> bool:
    """VHS adds per-format widgets (crf, pix_fmt, ...) listed under its `format` combo's `formats` meta."""
    for spec in schema.inputs.values():
        formats = spec.meta.get("formats") if spec.options is not None else None
        if isinstance(formats, Mapping):
            chosen = formats.get(inputs.get(spec.name)) or []
            if any(isinstance(w, list) and w and w[0] == name for w in chosen):
                return True
    return False
