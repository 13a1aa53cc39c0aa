"""Check one ComfyUI instance and build its wanprov.instance-health/2 result.

The steps, in order, each ending the check when it fails (the result says why):
1. wait for GET /system_stats, failing at once (with the log's tail) when the service has exited or restarted
   (wanprov.stack.service_wait, the same core as `wanprov stack wait`);
2. read /system_stats (the ComfyUI version) and the live /object_info. Steps 1 and 2 together end within
   `wait_timeout_s` (`--timeout` is wall time), each answer read incrementally and size-capped
   (wanprov.bounded_http): a server that trickles or never ends its body is "did not answer in time";
3. validate each rendered *.api.json in the workflows folder against it, listing every file each one
   names (node, loader input, folders, present or missing in the server's own list). An input image
   (LoadImage) the server does not list is always an error, as POST /prompt refuses it: the stack puts the
   templates' image in the input folder. Once the models are in place (`require_files`), so is a model file;
4. opt-in, on an instance with a GPU and valid workflows: a tiny real run (`wanprov workflow smoke`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wanprov import bounded_http
from wanprov.bounded_http import Deadline
from wanprov.errors import NetworkError, UsageError, WanprovError
from wanprov.exit_codes import ExitCode
from wanprov.stack.service_wait import Watch, wait_for_service
from wanprov.workflows.check import check_prompt, read_workflow
from wanprov.workflows.graph import inputs
from wanprov.workflows.schema import ObjectInfo, load_object_info

SCHEMA = "wanprov.instance-health/2"
# Inputs whose file the stack provisions with the instance (the templates' input image, copied from the
# checkout into the input folder): required always, not only once the models stage ran.
PROVISIONED_INPUTS = frozenset({"LoadImage"})
PRESENT, MISSING = "present", "missing"


@dataclass(frozen=True)
class SmokeRequest:
    """The opt-in real run: a shipped template at its tiny size, with the instance GPU's profile."""

    template: str
    profile: str | None = None
    timeout_s: float = 900.0


@dataclass(frozen=True)
class HealthRequest:
    """One instance: where it answers, where its rendered workflows are, how to watch its service."""

    url: str  # the base URL, e.g. http://127.0.0.1:8188
    workflows_dir: Path  # <user dir>/default/workflows
    watch: Watch
    host: str = ""
    gpu: int | None = 0  # None: a --cpu instance
    tier: str | None = None  # the GPU's VRAM tier ("none": no smoke)
    require_files: bool = False
    comfyui_dir: Path | None = None  # also look each file up in this install's folders
    # and in these maps (its --extra-model-paths-config files: models outside the checkout)
    extra_model_paths: tuple[Path, ...] = ()
    wait_timeout_s: float = 60.0
    interval_s: float = 2.0
    smoke: SmokeRequest | None = None
    # the options that set wait_timeout_s and the smoke's timeout, named when their wall time runs out
    timeout_option: str = "health check --timeout"
    smoke_timeout_option: str = "health check --smoke-timeout"


@dataclass(frozen=True)
class FileChecked:
    """One model (or input) file a workflow names, and whether the live server lists it."""

    node_id: str
    class_type: str
    input: str
    name: str
    folders: tuple[str, ...]  # where ComfyUI lists this input from (relative to its root)
    status: str  # present | missing (in the live server's list for that input)
    required: bool  # provisioning installs it: every model file, and the templates' input image

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "folders": list(self.folders)}


@dataclass
class WorkflowHealth:
    file: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    files_checked: list[FileChecked] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": self.ok,
            "problems": self.problems,
            "files_checked": [f.to_dict() for f in self.files_checked],
        }


@dataclass
class InstanceHealth:
    host: str
    gpu: int | None
    url: str
    require_files: bool
    error: str | None = None
    exit_code: int = int(ExitCode.OK)  # what `wanprov health check` exits with
    comfyui_version: str | None = None
    workflows: list[WorkflowHealth] = field(default_factory=list)
    smoke: dict[str, Any] | None = None  # the smoke's wanprov.workflow-smoke/2 report, when it ran

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        checked = self.workflows
        return {
            "schema": SCHEMA,
            "host": self.host,
            "gpu": self.gpu,  # null: a --cpu instance
            "url": self.url,
            "ok": self.ok,
            "error": self.error,
            "exit_code": self.exit_code,
            "workflows_validated": sum(1 for w in checked if w.ok),
            "workflows_total": len(checked),
            "files_required": self.require_files,
            "workflows": [w.to_dict() for w in checked],
            "smoke_seconds": (self.smoke or {}).get("seconds") if (self.smoke or {}).get("ok") else None,
            "smoke": self.smoke,
            "comfyui_version": self.comfyui_version,
        }


def files_checked(prompt: dict[str, Any], schemas: ObjectInfo) -> list[FileChecked]:
    """Every file-name input of `prompt`, with its status in the live server's list for that input."""
    out = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type"))
        schema = schemas.get(class_type)
        for name, value in inputs(node).items():
            folders = schemas.file_inputs.folders_of(class_type, name)
            if folders is None or not isinstance(value, str) or value in schemas.file_inputs.pseudo:
                continue
            spec = schema.input(name) if schema else None
            listed = spec is not None and spec.options is not None and value in spec.options
            out.append(
                FileChecked(
                    str(node_id),
                    class_type,
                    name,
                    value,
                    folders,
                    PRESENT if listed else MISSING,
                    True,
                )
            )
    return out


def check_workflow(
    path: Path,
    schemas: ObjectInfo,
    *,
    require_files: bool,
    comfyui_dir: Path | None = None,
    extra_model_paths: Sequence[Path] = (),
) -> WorkflowHealth:
    """`workflow check` of one rendered workflow against the live schemas, plus its files."""
    try:
        prompt, input_format = read_workflow(path, schemas)
    except WanprovError as error:
        return WorkflowHealth(str(path), False, [error.message])
    report = check_prompt(
        prompt,
        schemas,
        source=str(path),
        input_format=input_format,
        comfyui_dir=comfyui_dir,
        extra_model_paths=extra_model_paths,
    )
    files = files_checked(prompt, schemas)
    # The server validates every input, the image list included (an empty list refuses every name):
    # whatever it would refuse is a problem here too - a model file only once the models stage ran.
    missing = [
        f
        for f in files
        if f.status == MISSING and f.required and (require_files or f.class_type in PROVISIONED_INPUTS)
    ]
    errors = report.validation.errors
    failing = [item.reason for item in report.checklist if item.status == "fail"]
    not_found = [f"file not found: {f.name}" for f in report.files if not f.found]
    problems: list[str] = []
    if errors or failing or not_found or missing:
        problems += [issue.message for issue in errors]
        problems += [i.message for i in report.validation.issues if i.kind == "silent_noop_input"]
        problems += failing + not_found
        problems += [
            f"file not on the server: node {f.node_id} ({f.class_type}) {f.input}: {f.name}" for f in missing
        ]
    return WorkflowHealth(str(path), not problems, problems, files)


def check_instance(request: HealthRequest) -> InstanceHealth:
    """Run the steps of the module docstring on one instance; never raises for what it finds (the result
    says it), only for bad input."""
    base = request.url.rstrip("/")
    result = InstanceHealth(request.host, request.gpu, base, request.require_files)
    deadline = Deadline(request.wait_timeout_s, label=request.timeout_option)
    try:
        wait_for_service(
            base + "/system_stats",
            request.watch,
            timeout_s=request.wait_timeout_s,
            interval_s=request.interval_s,
            deadline=deadline,
        )
        stats = _get_json(base + "/system_stats", deadline)
        schemas = load_object_info(base, timeout=request.wait_timeout_s, deadline=deadline)
    except UsageError as error:  # nothing to watch (no such unit): the check was asked wrongly
        result.error = f"{error.message}; fix: {error.hint}" if error.hint else error.message
        result.exit_code = int(error.exit_code)
        return result
    except WanprovError as error:  # exited or restarted (11), no answer in time (5), not ComfyUI
        result.error = f"does not answer: {error.message}"
        result.exit_code = int(error.exit_code)
        return result
    result.comfyui_version = (stats.get("system") or {}).get("comfyui_version")
    found = sorted(request.workflows_dir.glob("*.api.json")) if request.workflows_dir.is_dir() else []
    if not found:
        result.error = f"no API workflows (*.api.json) in {request.workflows_dir}: run the workflows stage"
        result.exit_code = int(ExitCode.CHECK_FAILED)
        return result
    result.workflows = [
        check_workflow(
            path,
            schemas,
            require_files=request.require_files,
            comfyui_dir=request.comfyui_dir,
            extra_model_paths=request.extra_model_paths,
        )
        for path in found
    ]
    failed = [w for w in result.workflows if not w.ok]
    if failed:
        result.error = " || ".join(f"{w.file}: {'; '.join(w.problems)}" for w in failed)
        result.exit_code = int(ExitCode.CHECK_FAILED)
        return result
    if request.smoke is not None and request.gpu is not None and request.tier not in (None, "none"):
        try:
            result.smoke = _run_smoke(base, request.smoke, request.smoke_timeout_option)
        except NetworkError as error:  # the instance stopped answering during the run
            result.error = f"wanprov workflow smoke {request.smoke.template}: {error.message}"
            result.exit_code = int(error.exit_code)
            return result
        if not result.smoke["ok"]:
            result.error = _smoke_error(request.smoke.template, result.smoke)
            result.exit_code = _SMOKE_EXIT.get(result.smoke["status"], int(ExitCode.CHECK_FAILED))
    return result


_SMOKE_EXIT = {
    "failed": int(ExitCode.EXECUTION_FAILED),
    "timed_out": int(ExitCode.TIMED_OUT),
    "unverified": int(ExitCode.OUTPUT_UNVERIFIED),
}


def _run_smoke(url: str, request: SmokeRequest, limit: str) -> dict[str, Any]:
    from wanprov.workflows.smoke import smoke_template

    report, _notes = smoke_template(
        url, request.template, profile=request.profile, timeout=request.timeout_s, limit=limit
    )
    return report.to_dict()


def _smoke_error(template: str, report: dict[str, Any]) -> str:
    error = report.get("error") or {}
    where = f" at node {error['node_id']} ({error.get('node_type')})" if error.get("node_id") else ""
    message = str(error.get("exception_message") or error.get("message") or "").strip()
    return f"wanprov workflow smoke {template}: {report['status']}{where}: {message}"[:3000]


STATS_MAX_BYTES = 1 << 20  # /system_stats is a few hundred bytes per device


def _get_json(url: str, deadline: Deadline) -> dict[str, Any]:
    import requests  # deferred, as for the other URL readers

    try:
        reply = bounded_http.request(
            "GET", url, deadline=deadline.clipped(30.0), max_bytes=STATS_MAX_BYTES, shown=_shown(url)
        )
        if reply.status >= 400:
            raise NetworkError(f"GET {_shown(url)} answered HTTP {reply.status}", hint="a ComfyUI server?")
        data = reply.json()
    except (requests.RequestException, ValueError, RecursionError) as exc:
        raise NetworkError(f"GET {_shown(url)} failed: {exc}", hint="is it a ComfyUI server?") from exc
    if not isinstance(data, dict):
        raise NetworkError(f"GET {_shown(url)} answered {type(data).__name__}, not an object", hint=None)
    return data


def _shown(url: str) -> str:
    from wanprov.redact import redact_text

    return redact_text(urllib.parse.urlsplit(url)._replace(query="").geturl())
