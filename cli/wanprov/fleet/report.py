"""The fleet report: per-host doctor reports + per-instance health results -> one row per ComfyUI
instance (host, GPU), plus a row for every refused, excluded or unreachable host or GPU with its reason and
fix. Pure (no I/O): the CLI (`wanprov fleet-report`) reads the files and writes the JSON.

Row statuses:
  healthy      the instance on a ready GPU answered its health check
  unhealthy    it did not (reason: the health check's error)
  missing      a ready GPU of an accepted host with no health result (instance not deployed or not checked)
  refused      the doctor failed this GPU, or the whole host (reason: the FAIL findings; fix: theirs)
  excluded     left out on purpose (--gpus / comfyui_gpus)
  unreachable  no doctor report for the host (reason as given: ssh failure, wanprov missing ...)
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from wanprov.errors import ManifestError

SCHEMA = "wanprov.fleet-report/1"
HEALTH_SCHEMA = "wanprov.instance-health/2"  # wanprov.health.instance.SCHEMA
# /2 added fields (exit_code, files_required, workflows[].files_checked, smoke) and kept every /1 field as it
# was: a /1 record (an older health role's) still reads.
HEALTH_SCHEMAS = ("wanprov.instance-health/1", HEALTH_SCHEMA)
STATUSES = ("healthy", "unhealthy", "missing", "refused", "excluded", "unreachable")
FINE = ("healthy", "excluded")  # the statuses that leave the report ok


class FleetInputError(ManifestError):
    """A doctor report or health result the report cannot use (exit 10), naming the host and field."""

    code = "bad_fleet_input"


@dataclass(frozen=True)
class Health:
    """One instance's health check, as the health task records it (HEALTH_SCHEMA)."""

    host: str
    gpu: int
    url: str
    ok: bool
    error: str | None = None
    workflows_validated: int | None = None
    workflows_total: int | None = None


@dataclass(frozen=True)
class Row:
    host: str
    status: str  # one of STATUSES
    gpu: int | None = None  # nvidia-smi index; None: the host as a whole (no GPU, unreachable)
    gpu_name: str | None = None
    pci_bus_id: str | None = None
    tier: str | None = None
    profile: str | None = None
    verdict: str | None = None  # the doctor's verdict on the GPU: ready | fail | excluded
    models_from: str | None = None  # which sources served the host's model files (p2p, controller, hub)
    url: str | None = None
    workflows_validated: int | None = None
    workflows_total: int | None = None
    reason: str | None = None
    fix: str | None = None


def parse_health(record: Any, where: str) -> Health:
    """A health result from JSON; FleetInputError names `where` (file and position) and the bad field."""
    if not isinstance(record, dict):
        raise FleetInputError(f"{where}: a health result must be an object, not {type(record).__name__}")
    schema = record.get("schema", HEALTH_SCHEMA)
    if schema not in HEALTH_SCHEMAS:
        raise FleetInputError(f"{where}: schema {schema!r}, expected one of {', '.join(HEALTH_SCHEMAS)}")
    types: dict[str, tuple[type, ...]] = {"host": (str,), "gpu": (int,), "url": (str,), "ok": (bool,)}
    optional: dict[str, tuple[type, ...]] = {
        "error": (str, type(None)),
        "workflows_validated": (int, type(None)),
        "workflows_total": (int, type(None)),
    }
    for name, allowed in {**types, **optional}.items():
        if name not in record and name in types:
            raise FleetInputError(f"{where}: health result has no {name!r}", hint=_HEALTH_HINT)
        value = record.get(name)
        # bool is an int in Python: a gpu of `true` is a mistake, not GPU 1
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise FleetInputError(
                f"{where}: {name!r} is {value!r}; expected {' or '.join(t.__name__ for t in allowed)}",
                hint=_HEALTH_HINT,
            )
    return Health(**{name: record.get(name) for name in (*types, *optional)})


_HEALTH_HINT = (
    f"each health result is {{'schema': '{HEALTH_SCHEMA}', 'host': str, 'gpu': int, 'url': str, 'ok': bool, "
    "'error': str|null, 'workflows_validated': int|null, 'workflows_total': int|null}"
)


def _summary(host: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """The report's summary, checked for what the fleet report reads."""
    schema = report.get("schema")
    if schema != "wanprov.doctor/1":
        raise FleetInputError(f"doctor report of {host}: schema {schema!r}, expected 'wanprov.doctor/1'")
    summary = report.get("summary")
    if not isinstance(summary, dict) or not isinstance(summary.get("gpus"), list):
        raise FleetInputError(
            f"doctor report of {host} has no summary.gpus (a wanprov older than per-GPU judging)",
            hint=f"upgrade wanprov on {host} and rerun wanprov doctor --format json",
        )
    if not isinstance(report.get("findings"), list) or not isinstance(report.get("ok"), bool):
        raise FleetInputError(f"doctor report of {host} has no findings list or ok flag")
    return summary


def _blocking(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    severities = ("fail", "warn") if report.get("strict") else ("fail",)
    return [f for f in report["findings"] if f.get("severity") in severities]


def _reason(findings: list[dict[str, Any]], gpu: int | None = None) -> tuple[str | None, str | None]:
    """(the findings' messages joined, the first fix). On a GPU's row its name in each message is dropped:
    the row already says which GPU."""
    if not findings:
        return None, None
    messages = []
    for finding in findings:
        message = " ".join(str(finding.get("message")).split())  # one line: kernel errors span several
        if gpu is not None and message.startswith(f"GPU {gpu} (") and "): " in message:
            message = message.split("): ", 1)[1]
        messages.append(f"{finding.get('check')}: {message}")
    reason = "; ".join(messages)
    fix = next((f.get("fix") for f in findings if f.get("fix")), None)
    return reason, fix


def _host_rows(host: str, report: Mapping[str, Any], health: dict[int, Health]) -> list[Row]:
    summary = _summary(host, report)
    blocking = _blocking(report)
    host_reason, host_fix = _reason([f for f in blocking if not f.get("gpus")])
    gpus = summary["gpus"]
    known = {gpu.get("index") for gpu in gpus}
    stray = sorted(set(health) - known)
    if stray:
        raise FleetInputError(
            f"health result for GPU {stray[0]} of {host}, whose doctor report lists GPUs "
            f"{sorted(known) or 'none'}",
            hint="run the health check and the doctor on the same host, with the same wanprov",
        )
    if not gpus:
        reason = host_reason or "the doctor found no GPU"
        return [Row(host, "refused", reason=reason, fix=host_fix)]
    failing_gpus = [gpu["index"] for gpu in gpus if gpu.get("verdict") == "fail"]
    rows = []
    for gpu in gpus:
        index, verdict = gpu.get("index"), gpu.get("verdict")
        checked = health.get(index)
        status, url, reason, fix = "missing", None, None, None
        if verdict == "excluded":
            status, reason = "excluded", "left out by --gpus"
        elif verdict == "fail":
            status = "refused"
            reason, fix = _reason([f for f in blocking if index in (f.get("gpus") or [])], index)
        elif checked is not None:
            status = "healthy" if checked.ok else "unhealthy"
            url, reason = checked.url, checked.error
            if not checked.ok:
                fix = f"read the ComfyUI log of GPU {index}'s instance on {host} (journalctl)"
        elif not report["ok"]:
            status = "refused"
            if host_reason:
                reason, fix = f"the host was refused: {host_reason}", host_fix
            else:
                listed = ",".join(map(str, failing_gpus))
                reason = f"the host was refused: GPU {listed} failed the doctor"
                keep = ",".join(str(g["index"]) for g in gpus if g.get("verdict") == "ready")
                fix = f"fix GPU {listed}, or leave it out: wanprov doctor --gpus {keep} (comfyui_gpus)"
        else:
            reason = "no health result: the instance was not deployed or not checked"
        rows.append(
            Row(
                host=host,
                status=status,
                gpu=index,
                gpu_name=gpu.get("name"),
                pci_bus_id=gpu.get("pci_bus_id"),
                tier=gpu.get("vram_tier"),
                profile=gpu.get("recommended_profile"),
                verdict=verdict,
                url=url,
                workflows_validated=checked.workflows_validated if checked else None,
                workflows_total=checked.workflows_total if checked else None,
                reason=reason,
                fix=fix,
            )
        )
    return rows


def build(
    doctor: Mapping[str, Mapping[str, Any]],
    health: Iterable[Health] = (),
    unreachable: Mapping[str, str] | None = None,
    models_from: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The fleet report document (SCHEMA): `doctor` maps host -> its `wanprov doctor --format json`
    report; `health` holds the instances' health results; `unreachable` maps host -> why it has no report.
    Rows are sorted by host, then GPU index."""
    unreachable = dict(unreachable or {})
    by_host: dict[str, dict[int, Health]] = {}
    for result in health:
        instances = by_host.setdefault(result.host, {})
        if result.gpu in instances:
            raise FleetInputError(f"two health results for GPU {result.gpu} of {result.host}")
        instances[result.gpu] = result
    both = sorted(set(doctor) & set(unreachable))
    if both:
        raise FleetInputError(f"host {both[0]} has a doctor report and is listed as unreachable")
    orphans = sorted(set(by_host) - set(doctor))
    if orphans:
        raise FleetInputError(
            f"health results for {orphans[0]}, which has no doctor report",
            hint="give its report (--doctor HOST=FILE) or list it as unreachable",
        )
    rows: list[Row] = []
    for host in sorted({*doctor, *unreachable}):
        if host in unreachable:
            fix = f"make {host} reachable (ssh, python3, wanprov) and rerun the playbook"
            rows.append(Row(host, "unreachable", reason=unreachable[host], fix=fix))
        else:
            rows.extend(_host_rows(host, doctor[host], by_host.get(host, {})))
    rows = [replace(row, models_from=(models_from or {}).get(row.host)) for row in rows]
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[row.status] += 1
    return {
        "schema": SCHEMA,
        "ok": all(row.status in FINE for row in rows),
        "counts": counts,
        "rows": [asdict(row) for row in rows],
    }


COLUMNS = (
    ("host", "host"),
    ("GPU", "gpu"),
    ("name", "gpu_name"),
    ("tier", "tier"),
    ("profile", "profile"),
    ("verdict", "verdict"),
    ("status", "status"),
    ("URL", "url"),
    ("workflows", "workflows"),
    ("models", "models_from"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "workflows":
        if row["workflows_total"] is None:
            return "-"
        validated = row["workflows_validated"]
        return f"{'?' if validated is None else validated}/{row['workflows_total']}"
    value = row[key]
    return "-" if value is None else str(value)


def render_text(document: Mapping[str, Any], width: int = 110) -> str:
    """The table (one line per row), then the reason and fix of every row that is not healthy."""
    rows = document["rows"]
    table = [[title for title, _ in COLUMNS]] + [[_cell(row, key) for _, key in COLUMNS] for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table]
    problems = [row for row in rows if row["status"] != "healthy" and row["reason"]]
    if problems:
        lines.append("")
    for row in problems:
        where = row["host"] if row["gpu"] is None else f"{row['host']} GPU {row['gpu']}"
        lines.extend(
            textwrap.wrap(f"{where}: {row['status']}: {row['reason']}", width, subsequent_indent="  ")
        )
        if row["fix"]:
            fix = f"fix: {row['fix']}"
            lines.extend(
                textwrap.wrap(
                    fix, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False
                )
            )
    counts = document["counts"]
    tally = ", ".join(f"{counts[status]} {status}" for status in STATUSES if counts[status])
    lines.append("")
    lines.append(f"{'FLEET OK' if document['ok'] else 'FLEET NOT OK'}: {tally or 'no hosts'}")
    return "\n".join(lines)
