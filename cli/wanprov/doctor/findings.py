"""Findings and the report: the data a verdict is made of (no I/O, no click)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["pass", "info", "warn", "fail"]
SEVERITIES: tuple[Severity, ...] = ("pass", "info", "warn", "fail")
SCHEMA = "wanprov.doctor/1"


@dataclass(frozen=True)
class Finding:
    check: str  # stable snake_case id: scripts and Ansible match on it
    severity: Severity
    message: str
    fix: str | None = None
    gpus: tuple[int, ...] = ()  # the GPUs (nvidia-smi index) it is about; empty: the host as a whole

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "gpus": list(self.gpus),
        }

    def line(self) -> str:
        """One line a person reads in a play's output or an error: `check: message | fix: ...`."""
        return f"{self.check}: {self.message} | fix: {self.fix or 'none given'}"


def passed(check: str, message: str) -> Finding:
    return Finding(check, "pass", message)


def info(check: str, message: str, fix: str | None = None) -> Finding:
    return Finding(check, "info", message, fix)


def warn(check: str, message: str, fix: str) -> Finding:
    return Finding(check, "warn", message, fix)


def fail(check: str, message: str, fix: str) -> Finding:
    return Finding(check, "fail", message, fix)


@dataclass
class Report:
    findings: list[Finding]
    summary: dict[str, Any]
    facts: dict[str, Any]
    strict: bool = False
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = dict.fromkeys(SEVERITIES, 0)
        for finding in self.findings:
            self.counts[finding.severity] += 1

    @property
    def ok(self) -> bool:
        """No FAIL finding (and, under --strict, no WARN either)."""
        return self.counts["fail"] == 0 and not (self.strict and self.counts["warn"])

    @property
    def blocking(self) -> list[Finding]:
        """The findings that make the verdict fail: FAIL (and, under --strict, WARN)."""
        return [f for f in self.findings if f.severity == "fail" or (self.strict and f.severity == "warn")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "strict": self.strict,
            "counts": dict(self.counts),
            "findings": [finding.to_dict() for finding in self.findings],
            "summary": self.summary,
            "facts": self.facts,
        }
