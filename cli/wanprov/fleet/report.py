"""The fleet report: per-host doctor reports + per-instance health results -> one row per ComfyUI
instance (host, GPU), plus a row for every refused, excluded or unreachable host or GPU with its reason and
fix. Pure (no I/O): the CLI (`wanprov fleet-report`) reads the files and writes the JSON.

Each instance's row carries its smoke run when one ran (`smoke`: status, seconds, the output's path on the
host and the media facts read back from it).

Row statuses:
  healthy      the instance on a ready GPU answered its health check
  unhealthy    it did not (reason: the health check's error)
  missing      a ready GPU of an accepted host with no health result (instance not deployed or not checked)
  refused      the doctor failed this GPU, or the whole host (reason: the FAIL findings; fix: theirs)
  excluded     left out on purpose (the doctor's --gpus, or comfyui_gpus: no instance on it)
  unreachable  no doctor report for the host (reason as given: ssh failure, wanprov missing ...)
  invalid      the host's doctor report is not one the report can read (reason: which field, and why)

A bad input never takes the other hosts down with it: a host whose report has the wrong shape gets an
`invalid` row, a health result that cannot be used is listed under `problems`, and every other host is
reported as usual; the CLI then exits 10 with the whole document.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from wanprov.errors import ManifestError
from wanprov.redact import shown

SCHEMA = "wanprov.fleet-report/1"
HEALTH_SCHEMA = "wanprov.instance-health/2"  # wanprov.health.instance.SCHEMA
# /2 added fields (exit_code, files_required, workflows[].files_checked, smoke) and kept every /1 field as it
# was: a /1 record (an older health role's) still reads.
HEALTH_SCHEMAS = ("wanprov.instance-health/1", HEALTH_SCHEMA)
STATUSES = ("healthy", "unhealthy", "missing", "refused", "excluded", "unreachable", "invalid")
FINE = ("healthy", "excluded")  # the statuses that leave the report ok


class FleetInputError(ManifestError):
    """A doctor report or health result the report cannot use (exit 10), naming the host and field."""

    code = "bad_fleet_input"


@dataclass(frozen=True)
class Health:
    """One instance's health check, as the health task records it (HEALTH_SCHEMA)."""

    host: str
    gpu: int | None  # None: the host's --cpu instance
    url: str
    ok: bool
    error: str | None = None
    workflows_validated: int | None = None
    workflows_total: int | None = None
    smoke: dict[str, Any] | None = None  # the smoke's wanprov.workflow-smoke report, when it ran


@dataclass(frozen=True)
class Smoke:
    """What a row shows of an instance's smoke run: the seconds per video the fleet has never had."""

    status: str  # success | refused | failed | timed_out | unverified
    seconds: float | None
    path: str | None  # the output's absolute path on the host (None when the server does not say)
    media: dict[str, Any] | None  # container, codec, width, height, frames, fps as read back
    verified: bool


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
    smoke: Smoke | None = None  # None: no smoke ran on this instance


_MEDIA_KEYS = ("container", "codec", "width", "height", "frames", "fps")


def smoke_of(report: Mapping[str, Any] | None) -> Smoke | None:
    """A row's smoke from the health result's smoke report (/1 has no media: `verified` is then false)."""
    if not report:
        return None
    media = next(iter(report.get("media") or []), None)
    return Smoke(
        status=str(report.get("status")),
        seconds=report.get("seconds"),
        path=report.get("output"),
        media={k: media.get(k) for k in _MEDIA_KEYS} if isinstance(media, dict) else None,
        verified=bool(report.get("verified")),
    )


def unhealthy_fix(error: str | None, host: str, gpu: int | None) -> str:
    """The fix for an unhealthy instance, by what its health check found (instance.py's error texts)."""
    text = error or ""
    if "file not on the server" in text:
        return (
            f"restore the model files: ansible-playbook site.yml -i INVENTORY --tags models --limit {host} "
            "(on the host: wanprov fetch-models --profile PROFILE)"
        )
    if "no API workflows" in text:
        return f"install workflows: ansible-playbook site.yml -i INVENTORY --tags workflows --limit {host}"
    if gpu is None:
        return (
            f"read the log of the CPU instance on {host}: journalctl -u comfyui-cpu (the default unit name)"
        )
    return f"read the log of GPU {gpu} on {host}: journalctl -u comfyui-gpu{gpu} (the default unit name)"


def parse_health(record: Any, where: str) -> Health:
    """A health result from JSON; FleetInputError names `where` (file and position) and the bad field."""
    if not isinstance(record, dict):
        raise FleetInputError(f"{where}: a health result must be an object, not {type(record).__name__}")
    schema = record.get("schema", HEALTH_SCHEMA)
    if schema not in HEALTH_SCHEMAS:
        raise FleetInputError(f"{where}: schema {schema!r}, expected one of {', '.join(HEALTH_SCHEMAS)}")
    # gpu null: a --cpu instance
    types: dict[str, tuple[type, ...]] = {
        "host": (str,),
        "gpu": (int, type(None)),
        "url": (str,),
        "ok": (bool,),
    }
    optional: dict[str, tuple[type, ...]] = {
        "error": (str, type(None)),
        "workflows_validated": (int, type(None)),
        "workflows_total": (int, type(None)),
        "smoke": (dict, type(None)),
    }
    for name, allowed in {**types, **optional}.items():
        if name not in record and name in types:
            raise FleetInputError(f"{where}: health result has no {name!r}", hint=_HEALTH_HINT)
        value = record.get(name)
        # bool is an int in Python: a gpu of `true` is a mistake, not GPU 1
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            raise FleetInputError(
                f"{where}: {name!r} is {value!r}; expected "
                f"{' or '.join('null' if t is type(None) else t.__name__ for t in allowed)}",
                hint=_HEALTH_HINT,
            )
    return Health(**{name: record.get(name) for name in (*types, *optional)})


_HEALTH_HINT = (
    f"each health result is {{'schema': '{HEALTH_SCHEMA}', 'host': str, 'gpu': int|null, 'url': str, "
    "'ok': bool, 'error': str|null, 'workflows_validated': int|null, 'workflows_total': int|null, "
    "'smoke': object|null}"
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
    for position, gpu in enumerate(summary["gpus"]):
        where = f"doctor report of {host}: summary.gpus[{position}]"
        if not isinstance(gpu, dict):
            raise FleetInputError(f"{where} is {type(gpu).__name__}, not an object")
        _expect(gpu.get("index"), (int,), f"{where}.index")
        _expect(gpu.get("verdict"), (str,), f"{where}.verdict")
        for key in ("name", "pci_bus_id", "vram_tier", "recommended_profile"):
            _expect(gpu.get(key), (str, type(None)), f"{where}.{key}")
    indices = [gpu["index"] for gpu in summary["gpus"]]
    if len(set(indices)) != len(indices):
        raise FleetInputError(f"doctor report of {host}: summary.gpus lists a GPU index twice")
    for position, finding in enumerate(report["findings"]):
        where = f"doctor report of {host}: findings[{position}]"
        if not isinstance(finding, dict):
            raise FleetInputError(f"{where} is {type(finding).__name__}, not an object")
        for key in ("check", "severity", "message"):
            _expect(finding.get(key), (str,), f"{where}.{key}")
        _expect(finding.get("fix"), (str, type(None)), f"{where}.fix")
        gpus = finding.get("gpus")
        if gpus is not None and not (
            isinstance(gpus, list) and all(isinstance(g, int) and not isinstance(g, bool) for g in gpus)
        ):
            raise FleetInputError(f"{where}.gpus is {_short(gpus)}; expected a list of GPU indices")
    return summary


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expect(value: Any, allowed: tuple[type, ...], where: str) -> None:
    """`value` is one of `allowed` (a bool is no int here), else FleetInputError naming `where`."""
    if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
        names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in allowed)
        raise FleetInputError(f"{where} is {_short(value)}; expected {names}")


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


def _host_rows(
    host: str,
    report: Any,
    health: dict[int | None, Health],
    instances: Iterable[int | None] | None,
    problems: list[str],
) -> list[Row]:
    """The host's rows; a report the fleet report cannot read is one `invalid` row naming the field."""
    if not isinstance(report, Mapping):
        report = {"schema": report}  # _summary names what it is
    try:
        summary = _summary(host, report)
    except FleetInputError as exc:
        return [Row(host, "invalid", reason=exc.message, fix=exc.hint or _INVALID_FIX.format(host=host))]
    blocking = _blocking(report)
    host_reason, host_fix = _reason([f for f in blocking if not f.get("gpus")])
    gpus = summary["gpus"]
    with_instance = None if instances is None else set(instances)
    cpu = with_instance is not None and None in with_instance  # the host runs ComfyUI on the CPU (--cpu)
    known = {gpu["index"] for gpu in gpus}
    for stray in sorted(set(health) - known - ({None} if cpu else set()), key=str):
        what = "the CPU instance" if stray is None else f"GPU {stray}"
        problems.append(
            f"health result for {what} of {host}, whose doctor report lists GPUs "
            f"{sorted(known) or 'none'}: left out (run the health check and the doctor with the same wanprov)"
        )
    if not gpus and not cpu:
        reason = host_reason or "the doctor found no GPU"
        return [Row(host, "refused", reason=reason, fix=host_fix)]
    failing_gpus = [gpu["index"] for gpu in gpus if gpu.get("verdict") == "fail"]
    rows = [_cpu_row(host, report["ok"], health.get(None), host_reason, host_fix)] if cpu else []
    for gpu in gpus:
        index, verdict = gpu.get("index"), gpu.get("verdict")
        checked = health.get(index)
        status, url, reason, fix = "missing", None, None, None
        if verdict == "excluded":
            status, reason = "excluded", "left out by --gpus"
        elif verdict == "ready" and with_instance is not None and index not in with_instance:
            status, reason = "excluded", "left out by comfyui_gpus: no ComfyUI instance on this GPU"
        elif verdict == "fail":
            status = "refused"
            reason, fix = _reason([f for f in blocking if index in (f.get("gpus") or [])], index)
        elif checked is not None:
            status = "healthy" if checked.ok else "unhealthy"
            url, reason = checked.url, checked.error
            if not checked.ok:
                fix = unhealthy_fix(checked.error, host, index)
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
                smoke=smoke_of(checked.smoke) if checked else None,
            )
        )
    return rows


def _cpu_row(
    host: str, ok: bool, checked: Health | None, host_reason: str | None, host_fix: str | None
) -> Row:
    """The host's --cpu instance: no GPU runs it (GPU, tier and profile empty)."""
    name = "CPU (--cpu)"
    if checked is not None:
        fix = None if checked.ok else unhealthy_fix(checked.error, host, None)
        return Row(
            host, "healthy" if checked.ok else "unhealthy", gpu_name=name, verdict="ready", url=checked.url,
            workflows_validated=checked.workflows_validated, workflows_total=checked.workflows_total,
            reason=checked.error, fix=fix, smoke=smoke_of(checked.smoke),
        )  # fmt: skip
    if not ok:
        reason = f"the host was refused: {host_reason}" if host_reason else "the host was refused"
        return Row(host, "refused", gpu_name=name, reason=reason, fix=host_fix)
    return Row(
        host,
        "missing",
        gpu_name=name,
        reason="no health result: the instance was not deployed or not checked",
    )


_INVALID_FIX = "rerun the playbook; if it persists, compare wanprov's version on {host} with the controller's"


def build(
    doctor: Mapping[str, Any],
    health: Iterable[Health] = (),
    unreachable: Mapping[str, str] | None = None,
    *,
    instances: Mapping[str, Iterable[int | None]] | None = None,
    problems: Iterable[str] = (),
    invalid: Mapping[str, str] | None = None,
    models_from: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The fleet report document (SCHEMA): `doctor` maps host -> its `wanprov doctor --format json`
        report (an unreadable one gives the host an `invalid` row); `health` holds the instances' health
        results; `unreachable` maps host -> why it has no report; `instances` maps host -> the GPUs that run a
        ComfyUI instance (comfyui_gpus: its other ready GPUs are `excluded`); `problems` are inputs already
        found unusable (a health result of the wrong shape); `invalid` maps host -> why its report file could
    not be read at all. Rows are sorted by host, then GPU index; a host
        named in both `doctor` and `unreachable` is a caller's mistake (FleetInputError)."""
    unreachable = dict(unreachable or {})
    instances = dict(instances or {})
    found = list(problems)
    by_host: dict[str, dict[int | None, Health]] = {}
    for result in health:
        checked = by_host.setdefault(result.host, {})
        if result.gpu in checked:
            what = "the CPU instance" if result.gpu is None else f"GPU {result.gpu}"
            found.append(f"two health results for {what} of {result.host}: the second left out")
            continue
        checked[result.gpu] = result
    invalid = dict(invalid or {})
    both = sorted((set(doctor) | set(invalid)) & set(unreachable))
    if both:
        raise FleetInputError(f"host {both[0]} has a doctor report and is listed as unreachable")
    for orphan in sorted(set(by_host) - set(doctor)):
        found.append(f"health results for {orphan}, which has no doctor report: left out")
    rows: list[Row] = []
    for host in sorted({*doctor, *unreachable, *invalid}):
        if host in invalid:
            rows.append(Row(host, "invalid", reason=invalid[host], fix=_INVALID_FIX.format(host=host)))
        elif host in unreachable:
            fix = f"make {host} reachable (ssh, python3, wanprov) and rerun the playbook"
            rows.append(Row(host, "unreachable", reason=unreachable[host], fix=fix))
        else:
            rows.extend(_host_rows(host, doctor[host], by_host.get(host, {}), instances.get(host), found))
    rows = [replace(row, models_from=(models_from or {}).get(row.host)) for row in rows]
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[row.status] += 1
    return {
        "schema": SCHEMA,
        "ok": all(row.status in FINE for row in rows) and not found,
        "counts": counts,
        "rows": [asdict(row) for row in rows],
        "problems": found,
    }


def has_bad_input(document: Mapping[str, Any]) -> bool:
    """Whether some input was unusable (an `invalid` row or a problem): the CLI's exit 10."""
    return bool(document["problems"]) or document["counts"]["invalid"] > 0


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
    ("smoke", "smoke"),
    ("models", "models_from"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "workflows":
        if row["workflows_total"] is None:
            return "-"
        validated = row["workflows_validated"]
        return f"{'?' if validated is None else validated}/{row['workflows_total']}"
    if key == "smoke":
        return _smoke_cell(row["smoke"])
    value = row[key]
    return "-" if value is None else shown(value)  # host-reported text: escaped, no forged line


def _smoke_cell(smoke: Mapping[str, Any] | None) -> str:
    """`ok 41.2 s h264 320x192 5f@16fps`, or the status and seconds of a smoke that did not verify."""
    if smoke is None:
        return "-"
    seconds = "" if smoke["seconds"] is None else f" {smoke['seconds']:.1f} s"
    media = smoke["media"]
    if smoke["status"] != "success" or not smoke["verified"] or not media:
        return f"{smoke['status']}{seconds}"
    size = f"{media['width']}x{media['height']}"
    frames = f" {media['frames']}f@{media['fps']:g}fps" if media.get("fps") else ""
    return f"ok{seconds} {media['codec']} {size}{frames}"


def render_text(document: Mapping[str, Any], width: int = 110) -> str:
    """The table (one line per row), then the reason and fix of every row that is not healthy."""
    rows = document["rows"]
    table = [[title for title, _ in COLUMNS]] + [[_cell(row, key) for _, key in COLUMNS] for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table]
    problems = [row for row in rows if row["status"] != "healthy" and row["reason"]]
    if problems:
        lines.append("")
    outputs = [row for row in rows if row["smoke"] and row["smoke"]["path"]]
    if outputs:
        lines.append("")
    for row in outputs:  # where each instance's verified smoke output is, on its host
        lines.append(f"{row['host']} GPU {row['gpu']} smoke output: {row['smoke']['path']}")
    for row in problems:
        where = row["host"] if row["gpu"] is None else f"{row['host']} GPU {row['gpu']}"
        lines.extend(
            textwrap.wrap(shown(f"{where}: {row['status']}: {row['reason']}"), width, subsequent_indent="  ")
        )
        if row["fix"]:
            fix = shown(f"fix: {row['fix']}")
            lines.extend(
                textwrap.wrap(
                    fix, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False
                )
            )
    for problem in document.get("problems") or []:
        lines.extend(textwrap.wrap(shown(f"input problem: {problem}"), width, subsequent_indent="  "))
    counts = document["counts"]
    tally = ", ".join(f"{counts[status]} {status}" for status in STATUSES if counts[status])
    lines.append("")
    lines.append(f"{'FLEET OK' if document['ok'] else 'FLEET NOT OK'}: {tally or 'no hosts'}")
    return "\n".join(lines)
