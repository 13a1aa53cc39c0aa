"""The git operations the stack needs: read a checkout's state, clone, fetch, check out a commit detached."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wanprov.redact import redact_text
from wanprov.stack.errors import InstallFailedError

# Never prompt for credentials (a private URL must fail, not hang an unattended run); and only the
# transports stack.manifest.check_git_url lets through, so ext:: or fd:: cannot run a program.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "GIT_ALLOW_PROTOCOL": "https:http:ssh:file"}


@dataclass(frozen=True)
class CheckoutState:
    exists: bool
    is_repo: bool = False
    head: str | None = None
    origin_url: str | None = None
    dirty: bool = False


def _git(args: list[str], cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if check and proc.returncode != 0:
        where = f" in {cwd}" if cwd else ""
        raise InstallFailedError(
            redact_text(f"git {' '.join(args)}{where} failed: {proc.stderr.strip()[-500:]}"),
            hint="check the URL and commit are reachable from this host (or point --url at a mirror)",
        )
    return proc


def inspect(path: Path) -> CheckoutState:
    """Read a checkout without changing it; a missing folder or a non-repo is a state, not an error."""
    if not path.exists():
        return CheckoutState(exists=False)
    if not (path / ".git").exists():
        return CheckoutState(exists=True, is_repo=False)
    head = _git(["rev-parse", "HEAD"], cwd=path, check=False)
    origin = _git(["config", "--get", "remote.origin.url"], cwd=path, check=False)
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd=path, check=False)
    return CheckoutState(
        exists=True,
        is_repo=True,
        head=head.stdout.strip() if head.returncode == 0 else None,
        origin_url=origin.stdout.strip() or None,
        dirty=bool(status.stdout.strip()),
    )


@dataclass(frozen=True)
class CheckoutDecision:
    """What a checkout needs to reach `url` at `commit`: one rule for ComfyUI and every node pack."""

    state: str  # ok | missing | url_changed | wrong_commit | dirty | not_a_repo
    actions: tuple[str, ...]  # clone | set_url | checkout
    blocked: str | None = None  # why converging will refuse (a non-repo folder, local edits without force)


def decide_checkout(
    path: Path, state: CheckoutState, url: str, commit: str, *, force: bool
) -> CheckoutDecision:
    """Pure: from the observed state alone. Local edits to tracked files are discarded only with force."""
    if not state.exists:
        return CheckoutDecision("missing", ("clone",))
    if not state.is_repo:
        return CheckoutDecision("not_a_repo", (), f"{path} exists but is not a git checkout; move it away")
    name, actions = "ok", []
    if state.origin_url != url:
        name, actions = "url_changed", ["set_url"]
    if state.head != commit:
        name = "wrong_commit" if name == "ok" else name
        actions.append("checkout")
    blocked = None
    if state.dirty:
        name = "dirty"
        if "checkout" not in actions:
            actions.append("checkout")
        if not force:
            blocked = f"{path} has local changes to tracked files; pass --force (force=true) to discard them"
    return CheckoutDecision(name, tuple(actions), blocked)


def resolve_remote_ref(url: str, ref: str) -> str:
    """The commit a branch or tag points at now (only for packs the user let float)."""
    out = _git(["ls-remote", "--", url, ref]).stdout.split()
    if not out:
        raise InstallFailedError(
            f"{redact_text(url)} has no ref {ref!r}", hint="check the branch or tag name"
        )
    return out[0]


def checkout(path: Path, url: str, commit: str, *, force: bool = False) -> None:
    """Make `path` a checkout of `url` at `commit`, detached (never on a branch that could move)."""
    if not (path / ".git").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.cloning")
        if tmp.exists():  # left by an interrupted clone
            shutil.rmtree(tmp)
        # Clone beside the target, then rename: a failed clone never leaves a half pack in custom_nodes.
        _git(["clone", "--quiet", "--no-checkout", "--", url, str(tmp)])  # '--': a URL is never an option
        _git(["checkout", "--quiet", "--detach", commit], cwd=tmp)
        tmp.replace(path)
        return
    _git(["remote", "set-url", "--", "origin", url], cwd=path)
    have = _git(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=path, check=False).returncode == 0
    if not have:
        _git(["fetch", "--quiet", "origin"], cwd=path)
    args = ["checkout", "--quiet", "--detach"] + (["--force"] if force else []) + [commit]
    _git(args, cwd=path)
