"""Converge a host's ComfyUI stack: the one use case behind `wanprov stack converge`, `wanprov up` and the
`wanprov.gpu.stack` Ansible module.

Typed request in, typed report out. The step order is fixed and each step acts only where the host differs:
the venv (when asked to create it), the ComfyUI checkout at its pinned commit, the torch protection files
(constraints and pip.conf, written by `stack.constraints` only), the pinned torch wheels, every instance's
launch flags against the installed ComfyUI, then the node packs and requirements under the constraints. A
dry run computes the same plan and every step's pending work and writes nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanprov.errors import UsageError, WanprovError
from wanprov.stack import git
from wanprov.stack.constraints import pin_satisfied, write_protection
from wanprov.stack.errors import InstallFailedError, RefusedError
from wanprov.stack.host_plan import SCHEMA, StackPlan, StackRequest, plan_stack
from wanprov.stack.manifest import COMMIT_RE, check_git_url

Log = Callable[[str], None]


@dataclass(frozen=True)
class CheckoutRequest:
    """The ComfyUI checkout: where from, at which commit (a branch or tag only with allow_unpinned)."""

    url: str
    ref: str
    allow_unpinned: bool = False


@dataclass(frozen=True)
class NodesRequest:
    """The pinned node packs and ComfyUI's own requirements, installed under the torch constraints."""

    manifest: Path | None = None  # None: the one shipped with wanprov
    optional: Sequence[str] = ()
    overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # name -> {url, commit}
    allow_unpinned: bool = False
    core_requirements: bool = True


@dataclass(frozen=True)
class ConvergeRequest:
    stack: StackRequest
    summary: Mapping[str, Any] | None = None  # the doctor's summary; None: asked for only when needed
    checkout: CheckoutRequest | None = None  # None leaves the checkout alone
    git_url_schemes: Sequence[str] = ()  # transports allowed besides https (file for local mirrors)
    create_venv_with: str | None = None  # a base interpreter: create the venv when it is missing
    protect: bool = True
    install_torch: bool = True
    check_flags: bool = True
    nodes: NodesRequest | None = field(default_factory=NodesRequest)
    input_images: bool = True  # the images the templates name, into the instances' input folder
    force: bool = False  # discard local edits to tracked files in the checkouts
    dry_run: bool = False


@dataclass(frozen=True)
class Change:
    """One pending or made change, as a before/after pair (Ansible's --diff, the CLI's dry-run plan)."""

    what: str
    before: str
    after: str

    def to_diff(self) -> dict[str, str]:
        return {
            "before_header": self.what,
            "after_header": self.what,
            "before": self.before,
            "after": self.after,
        }


@dataclass
class ConvergeReport:
    plan: StackPlan
    dry_run: bool
    venv: str | None = None  # none | create, when asked to create it
    checkout: dict[str, Any] | None = None
    protection: list[str] = field(default_factory=list)
    torch: dict[str, Any] | None = None
    flags: dict[str, Any] | None = None
    nodes: dict[str, Any] | None = None
    input_images: list[dict[str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "schema": SCHEMA,
            "dry_run": self.dry_run,
            "changed": self.changed and not self.dry_run,
            "pending": self.changed and self.dry_run,
            "plan": self.plan.to_dict(),
            "protection": self.protection,
            "torch": self.torch,
            "flags": self.flags,
            "nodes": self.nodes,
            "input_images": self.input_images,
            "changes": [change.what for change in self.changes],
        }
        if self.venv is not None:
            result["venv"] = self.venv
        if self.checkout is not None:
            result["checkout"] = self.checkout
        return result

    def to_result(self, *, with_diff: bool = False) -> dict[str, Any]:
        """The report as Ansible reads it: the document less dry_run and pending, `changed` (a dry run: would
        change), and with_diff each change's before/after pair (--diff)."""
        result = {key: value for key, value in self.to_dict().items() if key not in ("dry_run", "pending")}
        result["changed"] = self.changed
        if with_diff and self.changes:
            result["diff"] = [change.to_diff() for change in self.changes]
        return result


def doctor_summary(request: ConvergeRequest) -> Mapping[str, Any]:
    """The doctor's summary: given, or asked for here (no torch probe, no NVENC encode) only when needed."""
    if request.summary is not None:
        return request.summary
    stack = request.stack
    needs_torch = not stack.torch.explicit
    needs_flags = stack.launch_flags_auto and not stack.launch_flags
    needs_gpus = stack.gpus == "all" and "--cpu" not in [*stack.launch_flags, *stack.extra_launch_flags]
    if not (needs_torch or needs_flags or needs_gpus):
        return {}
    from wanprov.doctor.summary import summarize
    from wanprov.facts import ProbeOptions, collect

    return summarize(collect(ProbeOptions(torch=False, nvenc=False)))


def converge(request: ConvergeRequest, log: Log = lambda _msg: None) -> ConvergeReport:
    """Converge the stack (or, dry run, say what would change). A failing step's error carries `.report`:
    the steps before it may have changed the host."""
    plan = plan_stack(request.stack, doctor_summary(request))
    report = ConvergeReport(plan=plan, dry_run=request.dry_run)
    try:
        _converge(request, plan, report, log)
    except WanprovError as error:
        error.report = report  # type: ignore[attr-defined]
        raise
    return report


def _converge(request: ConvergeRequest, plan: StackPlan, report: ConvergeReport, log: Log) -> None:
    stack = request.stack
    if request.create_venv_with:
        report.venv = _venv(request, plan, report, log)
    if request.checkout:
        report.checkout = _checkout(request, report, log)
    if request.protect:
        report.protection = _protect(request, plan, report)
    if request.install_torch:
        report.torch = _torch(request, plan, report, log)
    checkout_ready = (stack.install_dir / "main.py").is_file()
    if request.check_flags and checkout_ready:
        report.flags = _flags(plan, stack)
    if request.nodes is not None and (checkout_ready or not request.dry_run):
        report.nodes = _nodes(request, plan, report, log)
    if request.input_images and (checkout_ready or request.checkout is not None):
        report.input_images = _input_images(request, report, log)


def _input_images(request: ConvergeRequest, report: ConvergeReport, log: Log) -> list[dict[str, str]]:
    """The templates' images (example.png) from the checkout into the instances' shared input folder
    (--input-directory): POST /prompt refuses a LoadImage name that folder does not hold."""
    from wanprov.stack.input_images import COPY, apply_input_images, plan_input_images

    stack = request.stack
    plan = plan_input_images(stack.install_dir, stack.data_dir / "input")
    pending = [image for image in plan if image.action == COPY]
    if pending:
        report.changes.append(Change("input images", "", "".join(f"{image.dest}\n" for image in pending)))
        if not request.dry_run:
            log(f"input images: {', '.join(image.name for image in pending)}")
            apply_input_images(plan)
    return [image.to_dict() for image in plan]


def _venv(request: ConvergeRequest, plan: StackPlan, report: ConvergeReport, log: Log) -> str:
    python = Path(plan.python)
    if python.exists():
        return "none"
    report.changes.append(Change(f"{request.stack.venv_dir} (venv)", "", f"{python}\n"))
    if not request.dry_run:
        log(f"venv: creating {request.stack.venv_dir}")
        proc = subprocess.run(
            [str(request.create_venv_with), "-m", "venv", str(request.stack.venv_dir)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise InstallFailedError(
                f"could not create the venv {request.stack.venv_dir}: {proc.stderr.strip()[-300:]}",
                hint="install the python3-venv package (Debian/Ubuntu) or point --python at another Python",
            )
    return "create"


def _checkout(request: ConvergeRequest, report: ConvergeReport, log: Log) -> dict[str, Any]:
    wanted = request.checkout
    assert wanted is not None
    if not wanted.url:
        raise UsageError(
            "comfyui_version is set but comfyui_git_url is not: say where ComfyUI comes from",
            hint="set comfyui_git_url (--comfyui-git-url), or leave the version out",
        )
    url = wanted.url
    check_git_url(url, "comfyui_git_url", request.git_url_schemes)
    path, ref = request.stack.install_dir, wanted.ref
    if not COMMIT_RE.fullmatch(ref):
        if not wanted.allow_unpinned:
            raise RefusedError(
                f"comfyui_version={ref} is a branch or tag, not a 40-hex commit (a branch moves)",
                hint="pin the commit (git rev-parse REF), or set allow_unpinned=true",
            )
        ref = git.resolve_remote_ref(url, ref)
    state = git.inspect(path)
    decision = git.decide_checkout(path, state, url, ref, force=request.force)
    if decision.blocked:
        raise RefusedError(
            decision.blocked, hint="move the folder away, or pass force to discard local edits"
        )
    action = "clone" if "clone" in decision.actions else "checkout" if decision.actions else "none"
    if action != "none":
        report.changes.append(Change(f"{path} (commit)", f"{state.head}\n", f"{ref}\n"))
        if not request.dry_run:
            log(f"ComfyUI: {action} {ref[:12]} from {url}")
            git.checkout(path, url, ref, force=request.force)
    return {"path": str(path), "url": url, "commit": ref, "current_commit": state.head, "action": action}


def _protect(request: ConvergeRequest, plan: StackPlan, report: ConvergeReport) -> list[str]:
    changed = write_protection(plan.files, dry_run=request.dry_run)
    report.changes += [Change(path, before, plan.files[path]) for path, before in changed.items()]
    return list(changed)


def _torch(request: ConvergeRequest, plan: StackPlan, report: ConvergeReport, log: Log) -> dict[str, Any]:
    from wanprov.stack import pip

    python = Path(plan.python)
    if not python.exists():
        if not request.dry_run:
            raise UsageError(
                f"the venv {python.parent.parent} has no {python}: create it before installing torch",
                hint="create the venv first (the comfyui role does; `wanprov up` does)",
            )
        # a dry run on a bare host: the venv comes earlier in the real run
        return {"pinned": plan.torch_pins, "installed": None, "action": "unknown"}
    installed = pip.installed_versions(python, list(plan.torch_pins))
    if all(pin_satisfied(pin, installed.get(name)) for name, pin in plan.torch_pins.items()):
        return {"pinned": plan.torch_pins, "installed": installed, "action": "none"}
    report.changes.append(
        Change(
            f"{python} (torch)",
            "".join(f"{n}=={v}\n" for n, v in installed.items()),
            "".join(f"{n}=={v}\n" for n, v in plan.torch_pins.items()),
        )
    )
    if not request.dry_run:
        log(f"torch: installing {', '.join(f'{n}=={v}' for n, v in plan.torch_pins.items())}")
        pip.install_pins(python, plan.torch_pins, plan.torch_pip_args)
        installed = pip.installed_versions(python, list(plan.torch_pins))
    return {"pinned": plan.torch_pins, "installed": installed, "action": "install"}


def _flags(plan: StackPlan, stack: StackRequest) -> dict[str, Any]:
    """Every instance's flags against the installed ComfyUI (its --help read once)."""
    from wanprov.stack.flags import check_flags, known_flags

    python = Path(plan.python)
    known, source = known_flags(stack.install_dir, python if python.exists() else None)
    checks = {instance.name: check_flags(instance.flags, known, source) for instance in plan.instances}
    rejected = {name: check.rejected for name, check in checks.items() if check.rejected}
    if rejected:
        flags = sorted({flag for names in rejected.values() for flag in names})
        raise RefusedError(
            f"launch flag(s) {', '.join(flags)} are not flags of the ComfyUI at {stack.install_dir} "
            f"(instances {', '.join(rejected)}; checked with {source})",
            hint="drop them from launch_flags / extra_launch_flags, or pin a ComfyUI that has them",
        )
    accepted = sorted({flag for check in checks.values() for flag in check.accepted})
    return {"source": source, "accepted": accepted, "rejected": []}


def _nodes(
    request: ConvergeRequest, plan: StackPlan, report: ConvergeReport, log: Log
) -> dict[str, Any] | None:
    from wanprov.stack import manifest as stack_manifest
    from wanprov.stack import node_packs

    nodes = request.nodes
    assert nodes is not None
    for name, entry in nodes.overrides.items():
        if not isinstance(entry, Mapping) or not set(entry) <= {"url", "commit"}:
            raise UsageError(
                f"node_pack_overrides[{name!r}] must be a mapping of url and/or commit",
                hint="e.g. {ComfyUI-GGUF: {url: https://mirror.example/ComfyUI-GGUF.git}}",
            )
    packs = stack_manifest.select(
        stack_manifest.load_node_packs(nodes.manifest),
        with_optional=nodes.optional,
        urls={name: e["url"] for name, e in nodes.overrides.items() if e.get("url")},
        commits={name: e["commit"] for name, e in nodes.overrides.items() if e.get("commit")},
        allow_unpinned=nodes.allow_unpinned,
        allow_schemes=request.git_url_schemes,
    )
    python = Path(plan.python)
    if request.dry_run and not python.exists():
        return None  # no venv yet: nothing to compare the packs with
    installed = node_packs.install_nodes(
        packs,
        request.stack.install_dir,
        python,
        Path(plan.constraints),
        dry_run=request.dry_run,
        force=request.force,
        pip_args=plan.pip_args,
        core_requirements=nodes.core_requirements,
        log=log,
    )
    drift = [f"{p.name}: {p.state} ({', '.join(p.actions)})" for p in installed.packs if p.actions]
    if installed.core_requirements.get("actions"):
        drift.append("ComfyUI requirements: pending")
    drift += [f"one OpenCV: remove {name}" for name in installed.opencv_removed]
    if drift:
        report.changes.append(Change("node packs", "".join(f"{line}\n" for line in drift), "converged\n"))
    return installed.to_dict()
