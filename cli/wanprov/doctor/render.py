"""The human report: one line per finding, the fix under each non-pass (plain text; colour optional)."""

from __future__ import annotations

import textwrap
from typing import Any

from wanprov.doctor.findings import Report
from wanprov.redact import shown

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
        body = textwrap.wrap(shown(finding.message), width=max(40, width - len(indent))) or [""]
        lines.append(head + body[0])
        lines.extend(indent + line for line in body[1:])
        if finding.fix and finding.severity != "pass":
            fix = textwrap.wrap(
                shown(f"fix: {finding.fix}"),
                width=max(40, width - len(indent)),
                break_on_hyphens=False,
                break_long_words=False,
            )
            lines.extend(indent + line for line in fix)
    summary = report.summary
    torch = summary.get("torch") or {}
    lines.extend(_gpu_table(summary.get("gpus") or []))
    lines.append("")
    lines.append(
        shown(
            f"summary: tier {summary['vram_tier']}, profile {summary['recommended_profile'] or 'none'}, "
            f"flags {' '.join(summary['launch_flags']) or 'none'}, torch {torch.get('variant', 'none')}"
        )
    )
    counts = report.counts
    verdict = "READY" if report.ok else "NOT READY"
    strict = " (strict: WARN fails)" if report.strict else ""
    lines.append(
        f"{verdict}{strict}: {counts['fail']} fail, {counts['warn']} warn, {counts['info']} info, "
        f"{counts['pass']} pass"
    )
    return "\n".join(lines)


def _gpu_table(gpus: list[dict[str, Any]]) -> list[str]:
    """One row per GPU with its verdict (a multi-GPU host only: one GPU is the summary line below)."""
    if len(gpus) < 2:
        return []
    header = ("GPU", "name", "bus id", "CC", "VRAM MiB", "tier", "profile", "verdict")
    rows = [header]
    for gpu in gpus:
        verdict = gpu.get("verdict") or ""
        if gpu.get("failed_checks"):
            verdict += f" ({', '.join(gpu['failed_checks'])})"
        rows.append(
            tuple(
                shown(value if value is not None else "-")
                for value in (
                    gpu["index"],
                    gpu["name"],
                    gpu.get("pci_bus_id"),
                    gpu["compute_capability"],
                    gpu["vram_total_mib"],
                    gpu["vram_tier"],
                    gpu["recommended_profile"],
                    verdict,
                )
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = ["", "GPUs:"]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  " + "  ".join([*cells, row[-1]]))
    return lines
