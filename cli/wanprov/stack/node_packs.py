"""Converge the node packs (node_packs_plan says what each needs): check out each pack at its commit,
install its requirements under the torch constraints, then prove torch/torchvision/torchaudio are exactly
what the constraints pin."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from wanprov.datafiles import write_text_if_changed
from wanprov.errors import ManifestError
from wanprov.stack import git, opencv, pip
from wanprov.stack.constraints import (
    CONSTRAINTS_NAME,
    OPENCV,
    OPENCV_OTHERS,
    PROTECTED,
    pin_satisfied,
    protection_files,
    read_pins,
    write_protection,
)
from wanprov.stack.errors import RefusedError, TorchReplacedError
from wanprov.stack.manifest import NodePack
from wanprov.stack.node_packs_plan import (
    STATE_FILE,
    PackPlan,
    build_plan,
    file_digest,
    read_records,
    wanted_record,
)

Log = Callable[[str], None]
CORE_KEY = "__comfyui_core__"  # the record of ComfyUI's own requirements.txt in the venv's state file


@dataclass
class InstallReport:
    comfyui_dir: str
    python: str
    constraints: str
    dry_run: bool
    packs: list[PackPlan]
    torch_pins: dict[str, str]
    core_requirements: dict[str, object] = field(default_factory=dict)
    torch_after: dict[str, str | None] = field(default_factory=dict)
    protection_changes: list[str] = field(default_factory=list)
    opencv_removed: list[str] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        core_pending = bool(self.core_requirements.get("actions"))
        return (
            core_pending
            or bool(self.protection_changes)
            or bool(self.opencv_removed)
            or any(plan.actions for plan in self.packs)
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "comfyui_dir": self.comfyui_dir,
            "python": self.python,
            "constraints": self.constraints,
            "dry_run": self.dry_run,
            "changed": self.pending and not self.dry_run,
            "pending": self.pending and self.dry_run,
            "core_requirements": self.core_requirements,
            "packs": [plan.to_dict() for plan in self.packs],
            "protection_files": self.protection_changes,
            "torch": {"pinned": self.torch_pins, "installed": self.torch_after},
            "opencv": {"allowed": OPENCV, "removed": self.opencv_removed},
        }


def ensure_pins(python: Path, constraints: Path) -> dict[str, str]:
    """The torch pins to protect: the constraints file's, or (none yet) the venv's installed torch."""
    if constraints.exists():
        pins = {name: ver for name, ver in read_pins(constraints).items() if name in PROTECTED}
        if "torch" in pins:
            return pins
    installed = pip.installed_versions(python, PROTECTED)
    if not installed.get("torch"):
        raise ManifestError(
            f"no torch pin in {constraints} and no torch installed in {python}",
            hint="install the CUDA torch first (`wanprov doctor` prints the exact pip command), then rerun",
        )
    return {name: ver for name, ver in installed.items() if ver}


def verify_torch(python: Path, pins: dict[str, str], context: str) -> dict[str, str | None]:
    installed = pip.installed_versions(python, list(pins))
    wrong = [name for name, pin in pins.items() if not pin_satisfied(pin, installed.get(name))]
    if wrong:
        detail = ", ".join(f"{name} {installed.get(name)} (pinned {pins[name]})" for name in wrong)
        raise TorchReplacedError(
            f"{context}: the venv {python} no longer has the pinned torch: {detail}",
            hint=f"reinstall the pinned wheels: {python} -m pip install "
            + " ".join(f"{n}=={v}" for n, v in pins.items())
            + " --index-url <the torch index for this host>",
        )
    return installed


def install_nodes(
    packs: list[NodePack],
    comfyui_dir: Path,
    python: Path,
    constraints: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    pip_args: Sequence[str] = (),
    core_requirements: bool = True,
    log: Log = lambda _msg: None,
) -> InstallReport:
    """Converge `packs` in `comfyui_dir/custom_nodes` (or, with dry_run, only say what would change)."""
    if not (comfyui_dir / "main.py").is_file():
        raise ManifestError(
            f"{comfyui_dir} is not a ComfyUI checkout (no main.py)", hint="pass --comfyui-dir of ComfyUI"
        )
    if not Path(python).exists():
        raise ManifestError(f"python {python} does not exist", hint="pass --python VENV/bin/python")
    pins = ensure_pins(python, constraints)
    venv = Path(python).parent.parent
    files = protection_files(venv, pins, constraints)
    if constraints.exists() and constraints != venv / CONSTRAINTS_NAME:
        del files[str(constraints)]  # a constraints file of the caller's own (--constraints) is theirs
    plans = build_plan(packs, comfyui_dir, python, constraints, force=force)
    report = InstallReport(str(comfyui_dir), str(python), str(constraints), dry_run, plans, pins)
    core_file = comfyui_dir / "requirements.txt"
    core_record = {
        "requirements_sha256": file_digest(core_file),
        "constraints_sha256": file_digest(constraints),
    }
    if core_requirements and core_file.is_file():
        stale = read_records(python).get(CORE_KEY) != core_record
        report.core_requirements = {"path": str(core_file), "actions": ["requirements"] if stale else []}
    if dry_run:
        report.protection_changes = list(write_protection(files, dry_run=True))
        report.opencv_removed = opencv.extra_opencv(pip.installed_versions(python, list(OPENCV_OTHERS)))
        return report
    blocked = [plan for plan in plans if plan.blocked]
    if blocked:
        raise RefusedError("; ".join(str(plan.blocked) for plan in blocked), hint="see each pack's message")

    report.protection_changes = list(write_protection(files))
    verify_torch(python, pins, "before installing node packs")
    records = read_records(python)
    if report.core_requirements.get("actions"):
        log(f"ComfyUI: pip install -r {core_file} -c {constraints}")
        pip.install_requirements(python, core_file, constraints, pip_args)
        verify_torch(python, pins, "after installing ComfyUI's requirements")
        # digest again: on a first run the constraints file was written just above
        records[CORE_KEY] = {**core_record, "constraints_sha256": file_digest(constraints)}
        _save_records(python, records)
    by_name = {pack.name: pack for pack in packs}
    for plan in plans:
        if not plan.actions:
            continue
        pack = by_name[plan.name]
        path = Path(plan.path)
        if {"clone", "checkout", "set_url"} & set(plan.actions):
            log(f"{plan.name}: checking out {plan.commit[:12]} from {plan.url}")
            git.checkout(path, plan.url, plan.commit, force=force)
        if "requirements" in plan.actions:
            requirements = path / "requirements.txt"
            if requirements.is_file():
                log(f"{plan.name}: pip install -r requirements.txt -c {constraints}")
                pip.install_requirements(python, requirements, constraints, pip_args)
            verify_torch(python, pins, f"after installing {plan.name}'s requirements")
            records[plan.name] = wanted_record(replace(pack, commit=plan.commit), constraints)
            _save_records(python, records)
    report.torch_after = verify_torch(python, pins, "after installing node packs")
    report.opencv_removed = opencv.restore_one_opencv(
        python, pip.installed_versions(python, [OPENCV, *OPENCV_OTHERS]), constraints, pip_args
    )
    if report.opencv_removed:
        log(f"one OpenCV: removed {', '.join(report.opencv_removed)}, reinstalled {OPENCV}")
    return report


def _save_records(python: Path, records: dict[str, dict[str, object]]) -> None:
    write_text_if_changed(Path(python).parent.parent / STATE_FILE, json.dumps(records, indent=2) + "\n")
