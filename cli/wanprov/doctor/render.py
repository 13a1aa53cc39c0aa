"""The human report: one line per finding, the fix under each non-pass (plain text; colour optional)."""

from __future__ import annotations

import textwrap

from wanprov.doctor.findings import Report

LABELS = {"pass": "PASS", "info": "INFO", "warn": "WARN", "fail": "FAIL"}
COLOURS = {"pass": "\033[32m", "info": "\033[36m", "warn": "\033[33m", "fail": "\033[31m"}
RESET = "\033[0m"


def render_text(report: Report, *, colour: bool = False, width: int = 100) -> str:
    check_width = max((len(f.check) for f in report.findings), default=10)
    indent = " " * (4 + 2 + check_width + 2)
    lines = []
    for finding in report.findings:
        label = LABELS[finding.severity]
        if colour:
            label = f"{COLOURS[finding.severity]}{label}{RESET}"
        head = f"{label}  {finding.check.ljust(check_width)}  "
        body = textwrap.wrap(finding.message, width=max(40, width - len(indent))) or [""]
        lines.append(head + body[0])
        lines.extend(indent + line for line in body[1:])
        if finding.fix and finding.severity != "pass":
            fix = textwrap.wrap(
                f"fix: {finding.fix}",
                width=max(40, width - len(indent)),
                break_on_hyphens=False,
                break_long_words=False,
            )
            lines.extend(indent + line for line in fix)
    summary = report.summary
    torch = summary.get("torch") or {}
    lines.append("")
    lines.append(
        f"summary: tier {summary['vram_tier']}, profile {summary['recommended_profile']}, "
        f"flags {' '.join(summary['launch_flags']) or 'none'}, torch {torch.get('variant', 'none')}"
    )
    counts = report.counts
    verdict = "READY" if report.ok else "NOT READY"
    strict = " (strict: WARN fails)" if report.strict else ""
    lines.append(
        f"{verdict}{strict}: {counts['fail']} fail, {counts['warn']} warn, {counts['info']} info, "
        f"{counts['pass']} pass"
    )
    return "\n".join(lines)
