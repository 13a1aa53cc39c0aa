"""Plan: compare each selected pack with what is on disk. `decide()` is pure; `build_plan()` probes."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from wanprov.stack import git
from wanprov.stack.git import CheckoutState
from wanprov.stack.manifest import NodePack
from wanprov.strict import loads_json

# Per-venv record of which pack commit's requirements were installed under which constraints.
STATE_FILE = "wanprov-node-packs.json"


@dataclass
class PackPlan:
    name: str
    url: str
    commit: str
    path: str
    state: str  # ok | missing | wrong_commit | url_changed | dirty | not_a_repo | requirements
    actions: list[str] = field(default_factory=list)  # clone | set_url | checkout | requirements
    current_commit: str | None = None
    requested_ref: str | None = None  # the branch/tag a floating pack followed (allow_unpinned)
    blocked: str | None = None  # why apply will refuse (dirty without --force, a non-repo folder)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def decide(
    pack: NodePack,
    path: Path,
    state: CheckoutState,
    recorded: dict[str, object] | None,
    wanted_record: dict[str, object],
    *,
    force: bool = False,
) -> PackPlan:
    """What must happen to `pack` at `path`, from observed state alone (pure)."""
    plan = PackPlan(pack.name, pack.url, pack.commit, str(path), "ok", current_commit=state.head)
    needs_reqs = pack.requirements == "install" and recorded != wanted_record
    if not state.exists:
        plan.state, plan.actions = "missing", ["clone"]
    elif not state.is_repo:
        plan.state = "not_a_repo"
        plan.blocked = f"{path} exists but is not a git checkout; move it away"
        return plan
    else:
        if state.origin_url != pack.url:
            plan.state, plan.actions = "url_changed", ["set_url"]
        if state.head != pack.commit:
            plan.state = "wrong_commit" if plan.state == "ok" else plan.state
            plan.actions.append("checkout")
        if state.dirty:
            plan.state = "dirty"
            if "checkout" not in plan.actions:
                plan.actions.append("checkout")
            if not force:
                plan.blocked = f"{path} has local changes to tracked files; pass --force to discard them"
    moved = "clone" in plan.actions or "checkout" in plan.actions
    if pack.requirements == "install" and (needs_reqs or moved):
        plan.actions.append("requirements")
        if plan.state == "ok":
            plan.state = "requirements"
    return plan


def read_records(python: Path) -> dict[str, dict[str, object]]:
    path = Path(python).parent.parent / STATE_FILE
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def wanted_record(pack: NodePack, constraints: Path) -> dict[str, object]:
    # The requirements file of the *target* commit is only known after checkout; before it, use the
    # commit itself as the key (a commit fixes its requirements.txt).
    return {"commit": pack.commit, "constraints_sha256": file_digest(constraints)}


def build_plan(
    packs: list[NodePack],
    comfyui_dir: Path,
    python: Path,
    constraints: Path,
    *,
    force: bool = False,
) -> list[PackPlan]:
    records = read_records(python)
    plans = []
    for pack in packs:
        requested = None
        if not pack.pinned:  # allowed floating ref: plan against what it points at now
            requested = pack.commit
            pack = replace(pack, commit=git.resolve_remote_ref(pack.url, pack.commit))
        path = comfyui_dir / "custom_nodes" / pack.name
        plan = decide(
            pack,
            path,
            git.inspect(path),
            records.get(pack.name),
            wanted_record(pack, constraints),
            force=force,
        )
        plan.requested_ref = requested
        plans.append(plan)
    return plans
