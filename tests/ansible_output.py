"""What counts as a warning in the output of an ansible-playbook run (a new warning is a defect).

Ansible's own (`[WARNING]`, `[DEPRECATION WARNING]`) and any Python warning a dependency prints as the run
imports it (`path:line: SomeWarning: message`, warnings.formatwarning's shape: e.g. cryptography's
CryptographyDeprecationWarning from ansible-core's SSH-agent code, which pyproject.toml's bound prevents)."""

from __future__ import annotations

import re

WARNING_LINE = re.compile(r"\[(?:DEPRECATION )?WARNING\]|:\d+: \w*Warning: ")


def warning_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if WARNING_LINE.search(line)]
