"""Install rendered workflows into a folder (ComfyUI's user workflow folder): plan the files, then apply.

The whole set is rendered in memory first, so a bad template fails before anything is written. Each file is
then compared with the one in place (bytes, mode, owner) and only a difference is written: atomically, with
the mode and owner set on the temp file before the rename, so no reader sees a half-written or wrongly owned
file. A converged folder costs one render and a read per file.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov.datafiles import write_text_atomic
from wanprov.errors import UsageError, WanprovError
from wanprov.workflows.params import WorkflowParamError, load_defaults
from wanprov.workflows.schema import ObjectInfo

SCHEMA = "wanprov.workflow-install/1"
DIR_MODE = 0o755  # ComfyUI lists and saves workflows here as its service user


@dataclass(frozen=True)
class RenderRequest:
    """The options `workflow render` takes, shared by every template of the set."""

    preset: str | None = None
    profile: str | None = None
    tier: str | None = None
    nvenc: bool | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    facts_file: Path | None = None
    gpu: int | None = None  # the GPU of facts_file whose tier and NVENC apply (None: the first)


@dataclass(frozen=True)
class FileResult:
    name: str
    status: str  # unchanged | written | pending


@dataclass
class InstallResult:
    dest: Path
    files: list[FileResult]
    dir_status: str  # the folder itself (created, mode or owner fixed): unchanged | written | pending
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.dir_status != "unchanged" or any(f.status != "unchanged" for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "dest": str(self.dest),
            "files": [{"name": f.name, "status": f.status} for f in self.files],
            "dir": self.dir_status,
            "changed": self.changed,
        }


def render_set(
    names: Iterable[str], request: RenderRequest, schemas: ObjectInfo
) -> tuple[dict[str, str], list[str]]:
    """Render each template in both formats: {file name: text} (NAME.api.json, NAME.json) and the notes.

    Every name is checked before any render, so the error names each unknown template at once."""
    from wanprov.workflows.editor import from_api
    from wanprov.workflows.host import settings
    from wanprov.workflows.render import render

    names = list(dict.fromkeys(names))
    templates = load_defaults()[1]
    unknown = [name for name in names if name not in templates]
    if unknown:
        raise WorkflowParamError(
            f"unknown workflow template(s): {', '.join(unknown)}",
            hint=f"one of: {', '.join(sorted(templates))} (see `wanprov workflow list`)",
        )
    files: dict[str, str] = {}
    notes: list[str] = []
    for name in names:
        # --nvenc is a host fact here, not a request to this template: image templates simply have no encoder
        uses_nvenc = "nvenc" in templates[name].params
        host = settings(
            request.facts_file,
            tier=request.tier,
            nvenc=request.nvenc if uses_nvenc else None,
            uses_nvenc=uses_nvenc,
            gpu=request.gpu,
        )
        result = render(
            name,
            preset=request.preset,
            profile=request.profile,
            tier=host.tier,
            nvenc=host.nvenc,
            overrides=request.overrides,
            schemas=schemas,
        )
        notes += [f"{name}: {note}" for note in [*host.notes, *result.notes]]
        # the bytes `workflow render -o/--editor-out` writes: either tool sees the other's files as current
        files[f"{name}.api.json"] = _json_text(result.prompt)
        files[f"{name}.json"] = _json_text(from_api(result.prompt, schemas))
    return files, notes


def install(
    files: Mapping[str, str],
    dest: Path,
    *,
    mode: int = 0o644,
    owner: str | None = None,
    dry_run: bool = False,
) -> InstallResult:
    """Make `dest` hold exactly these files (content, mode, owner); `dry_run` reports and touches nothing."""
    dest = Path(dest)
    uid = _uid(owner)
    dir_status = _ensure_dir(dest, uid, dry_run)
    results = []
    for name, text in files.items():
        status = _install_file(dest / name, text.encode("utf-8"), mode, uid, dry_run)
        results.append(FileResult(name, status))
    return InstallResult(dest, results, dir_status)


@dataclass(frozen=True)
class InstallWorkflowsRequest:
    """Install workflows: the use case behind `wanprov workflow install`, `wanprov up` and the
    `wanprov.gpu.workflows` module."""

    dest: Path
    templates: Iterable[str] = ()  # empty: every shipped template
    render: RenderRequest = field(default_factory=RenderRequest)
    mode: str = "0644"
    owner: str | None = None
    object_info: str | None = None  # a node schema file; None: the shipped one
    dry_run: bool = False


@dataclass(frozen=True)
class InstallWorkflowsReport:
    result: InstallResult
    files: Mapping[str, str]  # name -> the text each file holds (or would hold)
    notes: list[str]


def install_workflows(request: InstallWorkflowsRequest) -> InstallWorkflowsReport:
    """Render the set in memory (a bad template fails before anything is written), then install it."""
    from wanprov.workflows.render import list_templates
    from wanprov.workflows.schema import load_object_info

    mode = parse_mode(request.mode)
    names = list(request.templates) or [template.name for template in list_templates()]
    files, notes = render_set(names, request.render, load_object_info(request.object_info))
    result = install(files, request.dest, mode=mode, owner=request.owner, dry_run=request.dry_run)
    return InstallWorkflowsReport(result, files, notes)


def parse_mode(text: str) -> int:
    """'0644' / '644' -> 0o644; anything else is a usage error naming the value."""
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise UsageError(f"--mode {text!r} is not an octal file mode", hint="e.g. --mode 0644")
    # Workflow files are data read by the ComfyUI service: a setuid/setgid/sticky bit means nothing useful
    # on them, and a world-writable one lets any local user change what the service runs.
    if mode & 0o7000:
        raise UsageError(
            f"--mode {text!r} sets the setuid, setgid or sticky bit; workflow files are plain data",
            hint="use a plain mode such as 0644 or 0640",
        )
    if mode & 0o002:
        raise UsageError(
            f"--mode {text!r} makes the files writable by every user", hint="use 0644, 0664 or 0640"
        )
    return mode


def _uid(owner: str | None) -> int | None:
    if not owner:
        return None
    try:
        return pwd.getpwnam(owner).pw_uid
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise UsageError(
            f"--owner {owner!r}: no such user on this host",
            hint="create the user first (the comfyui role does), or leave --owner out",
        ) from None


def _ensure_dir(dest: Path, uid: int | None, dry_run: bool) -> str:
    try:
        st = dest.stat()
    except FileNotFoundError:
        if dry_run:
            return "pending"
        dest.mkdir(parents=True, mode=DIR_MODE)
        dest.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
        if uid is not None:
            os.chown(dest, uid, -1)
        return "written"
    if not stat.S_ISDIR(st.st_mode):
        raise WanprovError(f"{dest} exists and is not a folder", hint="move it away, or pass another --dest")
    return _fix_attributes(dest, st, DIR_MODE, uid, dry_run)


def _fix_attributes(path: Path, st: os.stat_result, mode: int, uid: int | None, dry_run: bool) -> str:
    """Set mode and owner in place where they differ (the content is already right)."""
    wrong_mode = stat.S_IMODE(st.st_mode) != mode
    wrong_owner = uid is not None and st.st_uid != uid
    if not (wrong_mode or wrong_owner):
        return "unchanged"
    if dry_run:
        return "pending"
    if wrong_owner:
        os.chown(path, uid, -1)
    if wrong_mode:
        path.chmod(mode)
    return "written"


def _install_file(path: Path, data: bytes, mode: int, uid: int | None, dry_run: bool) -> str:
    try:
        st = path.stat()
        same_bytes = stat.S_ISREG(st.st_mode) and path.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError):
        st, same_bytes = None, False
    if same_bytes and st is not None:
        return _fix_attributes(path, st, mode, uid, dry_run)
    if dry_run:
        return "pending"
    write_text_atomic(path, data.decode("utf-8"), mode=mode, uid=uid)
    return "written"


def _json_text(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"
