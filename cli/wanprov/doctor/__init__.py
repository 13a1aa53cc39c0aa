"""doctor: facts -> rules (pure) -> report. Knows nothing of click; the CLI is commands/doctor.py."""

from __future__ import annotations

from typing import Any

from wanprov.doctor.findings import Report


def evaluate(facts: dict[str, Any], *, strict: bool = False, profile: str | None = None) -> Report:
    """Judge a facts document (probed now or loaded from a snapshot)."""
    from wanprov.doctor.rules import RULES, Context
    from wanprov.doctor.summary import summarize

    summary = summarize(facts)
    context = Context(facts=facts, summary=summary, profile=profile)
    findings = [finding for rule in RULES for finding in rule(context)]
    return Report(findings=findings, summary=summary, facts=facts, strict=strict)


__all__ = ["Report", "evaluate"]
