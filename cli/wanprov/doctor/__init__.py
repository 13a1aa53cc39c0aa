"""doctor: facts -> rules (pure) -> report. Knows nothing of click; the CLI is commands/doctor.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from wanprov.doctor.findings import Finding, Report

# A host that runs ComfyUI on the CPU (--cpu) needs no GPU: the GPU, driver, VRAM and encoder checks do not
# block it; they are reported as information.
CPU_WAIVED = frozenset(
    {"gpu_detected", "driver_flavour", "driver_branch_eol", "mig_mode", "blackwell_support", "precision",
     "vram_tier", "profile_fit", "nvenc"}
)  # fmt: skip


def evaluate(
    facts: dict[str, Any],
    *,
    strict: bool = False,
    profile: str | None = None,
    gpus: Sequence[int] | None = None,
    manifests: Sequence[str | Path] = (),
    cpu: bool = False,
) -> Report:
    """Judge a facts document (probed now or loaded from a snapshot): the host, and each GPU of `gpus`
    (nvidia-smi indices; None: all). UsageError when `gpus` names a GPU the facts do not have.
    `manifests`: the user's own model catalogs (as fetch-models takes them), where the profile is looked
    up and sized. `cpu`: the host runs ComfyUI on the CPU, so the GPU checks (CPU_WAIVED) inform instead
    of blocking."""
    from wanprov.doctor.rules import RULES, Context
    from wanprov.doctor.summary import add_verdicts, check_selection, summarize

    manifests = tuple(str(path) for path in manifests)
    if profile is not None:
        _check_profile(profile, manifests)
    selection = check_selection(facts, gpus)
    summary = summarize(facts, selection)
    context = Context(facts=facts, summary=summary, profile=profile, selection=selection, manifests=manifests)
    findings = [finding for rule in RULES for finding in rule(context)]
    if cpu:
        findings = [_waived(finding) for finding in findings]
    add_verdicts(summary, findings, selection, strict=strict)
    return Report(findings=findings, summary=summary, facts=facts, strict=strict)


def _waived(finding: Finding) -> Finding:
    if finding.check not in CPU_WAIVED or finding.severity not in ("fail", "warn"):
        return finding
    return replace(finding, severity="info", message=f"not needed on the CPU (--cpu): {finding.message}")


def _check_profile(profile: str, manifests: tuple[str, ...] = ()) -> None:
    """A profile the catalog does not have is refused as every command refuses it (NotFoundError, exit 8,
    naming the known ones), not judged as one with "no VRAM guidance"."""
    from wanprov.models.catalog import load_catalog

    load_catalog(list(manifests)).profile_roles(profile)


__all__ = ["CPU_WAIVED", "Report", "evaluate"]
