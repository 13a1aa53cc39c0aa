"""doctor: facts -> rules (pure) -> report. Knows nothing of click; the CLI is commands/doctor.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wanprov.doctor.findings import Report


def evaluate(
    facts: dict[str, Any],
    *,
    strict: bool = False,
    profile: str | None = None,
    gpus: Sequence[int] | None = None,
    manifests: Sequence[str | Path] = (),
) -> Report:
    """Judge a facts document (probed now or loaded from a snapshot): the host, and each GPU of `gpus`
    (nvidia-smi indices; None: all). UsageError when `gpus` names a GPU the facts do not have.
    `manifests`: the user's own model catalogs (as fetch-models takes them), where the profile is looked
    up and sized."""
    from wanprov.doctor.rules import RULES, Context
    from wanprov.doctor.summary import add_verdicts, check_selection, summarize

    manifests = tuple(str(path) for path in manifests)
    if profile is not None:
        _check_profile(profile, manifests)
    selection = check_selection(facts, gpus)
    summary = summarize(facts, selection)
    context = Context(facts=facts, summary=summary, profile=profile, selection=selection, manifests=manifests)
    findings = [finding for rule in RULES for finding in rule(context)]
    add_verdicts(summary, findings, selection, strict=strict)
    return Report(findings=findings, summary=summary, facts=facts, strict=strict)


def _check_profile(profile: str, manifests: tuple[str, ...] = ()) -> None:
    """A profile the catalog does not have is refused as every command refuses it (NotFoundError, exit 8,
    naming the known ones), not judged as one with "no VRAM guidance"."""
    from wanprov.models.catalog import load_catalog

    load_catalog(list(manifests)).profile_roles(profile)


__all__ = ["Report", "evaluate"]
