"""The one top-level handler (any failure: one message / one JSON document, a documented code) and the one
URL redactor (no credential reaches output)."""

from __future__ import annotations

import json

import click
import pytest
from hostile_cli import invoke
from hypothesis import given
from hypothesis import strategies as st

from wanprov.commands.output import emit_json, run_guarded
from wanprov.exit_codes import ExitCode
from wanprov.redact import redact, redact_text

# what can stand unencoded in a URL's userinfo: no separators, no control or space characters
SECRET = st.text(
    alphabet=st.characters(blacklist_categories=("C", "Z"), blacklist_characters="/?#@"),
    min_size=6,
    max_size=20,
)


@given(user=SECRET, password=SECRET, host=st.from_regex(r"\A[a-z][a-z0-9.-]{0,20}\Z"))
def test_userinfo_never_survives(user: str, password: str, host: str) -> None:
    for scheme in ("https", "http", "git+ssh", "file"):
        text = f"GET {scheme}://{user}:{password}@{host}/path?x=1 failed"
        redacted = redact_text(text)
        # exactly the text with the userinfo masked (a password like "failed" may occur elsewhere in it)
        assert redacted == f"GET {scheme}://***@{host}/path?x=1 failed", redacted


@given(token=SECRET)
def test_token_query_values_never_survive(token: str) -> None:
    redacted = redact({"url": [f"https://h/p?access_token={token}&a=1", f"https://h/p?sig={token}"]})
    assert token not in json.dumps(redacted)


def test_credentials_in_object_info_url_are_not_printed(tmp_path) -> None:
    (tmp_path / "w.json").write_text('{"1": {"class_type": "SaveImage", "inputs": {}}}')
    url = "http://admin:hunter2hunter2@127.0.0.1:9"
    for args in (("--format", "json"), ()):
        result = invoke("workflow", "check", str(tmp_path / "w.json"), "--object-info", url, *args)
        assert result.code == ExitCode.NETWORK, result
        assert "hunter2hunter2" not in result.out + result.err
        assert "***@127.0.0.1" in result.out + result.err


def test_credentials_in_hf_endpoint_are_not_printed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://me:s3cretpassw0rd@127.0.0.1:9")
    result = invoke("models", "lock", "--format", "json")
    assert result.code == ExitCode.NETWORK, result
    assert "s3cretpassw0rd" not in result.out + result.err
    assert result.json()["error"] == "network"


@pytest.mark.parametrize(
    "args",
    [
        ("workflow", "check", "--format", "json"),  # missing argument
        ("workflow", "render", "x", "--bogus", "--format", "json"),
        ("fetch-models", "--jobs", "0", "--profile", "p", "--models-dir", "m", "--format=json"),
        ("no-such-command", "--format", "json"),
    ],
)
def test_usage_errors_honour_format_json(args: tuple[str, ...]) -> None:
    result = invoke(*args)
    assert result.code == ExitCode.USAGE
    document = result.json()
    assert document["error"] == "usage" and document["exit_code"] == 2 and document["message"]
    assert result.err == ""


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyError("k"), RecursionError(), ZeroDivisionError()])
@pytest.mark.parametrize("output_format", ["text", "json"])
def test_unexpected_exceptions_are_exit_3_with_the_error_document(
    exc: Exception, output_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command()
    @click.option("--format", "output_format")
    def failing(output_format: str) -> None:
        raise exc

    code = run_guarded(failing, ["--format", output_format])
    out, err = capsys.readouterr()
    assert code == ExitCode.COULD_NOT_RUN
    assert "Traceback" not in out + err
    if output_format == "json":
        document = json.loads(out)
        assert document["error"] == "could_not_run" and document["exit_code"] == 3
    else:
        assert out == "" and err.startswith("error: ")


def test_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command()
    def failing() -> None:
        raise RuntimeError("boom")

    monkeypatch.setenv("WANPROV_DEBUG", "1")
    assert run_guarded(failing, []) == ExitCode.COULD_NOT_RUN
    assert "Traceback" in capsys.readouterr().err


def test_json_output_refuses_nan(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError):
        emit_json({"x": float("nan")})
    assert capsys.readouterr().out == ""  # nothing half-printed
