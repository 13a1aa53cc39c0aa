"""`workflow check`: schema validation + the tuning checklist + (optionally) model files on disk.

Reads the workflow file (API format, or the editor's format, converted first) and returns one report;
printing is the command's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov.errors import ManifestError
from wanprov.strict import loads_json
from wanprov.workflows.checklist import FAIL, NA, Item, family, run_checklist
from wanprov.workflows.editor import is_editor_format, to_api
from wanprov.workflows.graph import Prompt, inputs, is_safe_file_name
from wanprov.workflows.model_folders import HostFolders
from wanprov.workflows.schema import ObjectInfo
from wanprov.workflows.validator import ERROR, NOTE, WARNING, Issue, ValidationResult, validate_prompt


class WorkflowFileError(ManifestError):
    code = "bad_workflow"


@dataclass(frozen=True)
class FileCheck:
    node_id: str
    class_type: str
    input_name: str
    name: str
    found: str | None  # the path where it was found, or None
    looked_in: tuple[str, ...] = ()  # the folders ComfyUI lists for this input on that install

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "class_type": self.class_type,
            "input": self.input_name,
            "name": self.name,
            "found": self.found,
            "looked_in": list(self.looked_in),
            "ok": self.found is not None,
        }


@dataclass
class CheckReport:
    source: str
    schema_source: str
    input_format: str  # api | editor
    family: str
    validation: ValidationResult
    checklist: list[Item]
    files: list[FileCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.validation.ok
            and not any(i.status == FAIL for i in self.checklist)
            and all(f.found for f in self.files)
        )

    def to_dict(self) -> dict[str, Any]:
        def issues(severity: str) -> list[dict[str, Any]]:
            return [i.to_dict() for i in self.validation.issues if i.severity == severity]

        return {
            "file": self.source,
            "object_info": self.schema_source,
            "input_format": self.input_format,
            "family": self.family,
            "ok": self.ok,
            "errors": issues(ERROR),
            "silent_noops": [i.to_dict() for i in self.validation.issues if i.kind == "silent_noop_input"],
            "warnings": [
                i.to_dict()
                for i in self.validation.issues
                if i.severity == WARNING and i.kind != "silent_noop_input"
            ],
            "notes": issues(NOTE),
            "outputs": self.validation.outputs,
            "failed_outputs": self.validation.failed_outputs,
            "checklist": [i.to_dict() for i in self.checklist],
            "files": [f.to_dict() for f in self.files],
        }


def read_workflow(path: Path, schemas: ObjectInfo) -> tuple[dict[str, Any], str]:
    """Return (API-format prompt, "api"|"editor"). Raises WorkflowFileError (exit 10) if unreadable."""
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except RecursionError as exc:
        raise WorkflowFileError(f"workflow file {path} is nested too deeply", hint="check the file") from exc
    except FileNotFoundError as exc:
        raise WorkflowFileError(f"workflow file {path} does not exist", hint="check the path") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WorkflowFileError(
            f"workflow file {path} is not readable JSON: {exc}",
            hint="export it from ComfyUI with Workflow > Export (API)",
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        data = data["prompt"]  # the body of a POST /prompt request
    if is_editor_format(data):
        try:
            return to_api(data, schemas), "editor"
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # to_api trusts the editor's shapes; a hand-edited file breaks them in many ways
            raise WorkflowFileError(
                f"editor workflow {path} is malformed ({type(exc).__name__}: {exc})",
                hint="open and save it in the ComfyUI editor, or export it in API format",
            ) from exc
    if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
        raise WorkflowFileError(
            f"{path} is neither an API-format workflow (node id -> {{class_type, inputs}}) "
            "nor an editor workflow (nodes + links)",
            hint="export it from ComfyUI with Workflow > Export (API)",
        )
    return data, "api"


def check_prompt(
    prompt: Prompt,
    schemas: ObjectInfo,
    *,
    source: str = "<workflow>",
    input_format: str = "api",
    comfyui_dir: Path | None = None,
    extra_model_paths: Sequence[Path] = (),
) -> CheckReport:
    validation = validate_prompt(prompt, schemas)
    files = check_files(prompt, schemas, comfyui_dir, extra_model_paths) if comfyui_dir else []
    malformed = sorted({i.kind for i in validation.errors if i.kind in MALFORMED})
    if malformed:
        # ComfyUI refuses such a prompt outright, and the checklist reads node values by their schema
        # types: judging it would be advice on a workflow that cannot run (or a crash on a list-valued seed).
        checklist = [
            Item(
                "family",
                "Workflow family",
                NA,
                f"checklist skipped: the workflow is malformed ({', '.join(malformed)})",
            )
        ]
        return CheckReport(source, schemas.source, input_format, "unknown", validation, checklist, files)
    return CheckReport(
        source,
        schemas.source,
        input_format,
        family(prompt),
        validation,
        run_checklist(prompt, schemas),
        files,
    )


# Validation errors that mean the prompt's shape is broken, not merely a value out of range.
MALFORMED = frozenset(
    {
        "invalid_prompt",
        "invalid_input_type",
        "bad_linked_input",
        "exception_during_validation",
        "return_type_mismatch",
    }
)


def check_files(
    prompt: Prompt, schemas: ObjectInfo, comfyui_dir: Path, extra_model_paths: Sequence[Path] = ()
) -> list[FileCheck]:
    """Every file-name input, looked up in the list ComfyUI builds for it on this install (default folders,
    extra_model_paths.yaml, the loader's extensions): a file of the wrong type is as missing as no file."""
    host = HostFolders(schemas.file_inputs, comfyui_dir, extra_model_paths)
    out = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type"))
        for name, value in inputs(node).items():
            if schemas.file_inputs.keys_of(class_type, name) is None or not isinstance(value, str):
                continue
            if value in schemas.file_inputs.pseudo:
                continue
            # a name with '..' or an absolute path would be looked up outside the folder: never "present"
            found, looked = host.find(class_type, name, value) if is_safe_file_name(value) else (None, [])
            out.append(
                FileCheck(str(node_id), class_type, name, value, str(found) if found else None, tuple(looked))
            )
    return out


def summary_line(issue: Issue) -> str:
    return f"{issue.where()}: {issue.message}"
