"""Hostile-input suites: hypothesis settings and the environment every example runs in.

Modest example counts and no deadline (timing belongs to benchmarks/, never to tests); no example database
in the checkout; derandomized, so CI runs the same examples every time (explore locally with
`--hypothesis-profile=explore`, which draws new ones and more of them). The hub endpoint is a closed
loopback port, so no example can reach a network."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "wanprov",
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("explore", settings.get_profile("wanprov"), max_examples=500, derandomize=False)
settings.load_profile("wanprov")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("WANPROV_RETRIES", "0")
    monkeypatch.setenv("WANPROV_BACKOFF_BASE", "0")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("WANPROV_DEBUG", raising=False)
