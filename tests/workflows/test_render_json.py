"""`workflow render --format json`: one wanprov.workflow-render/1 document, as other commands print theirs."""

from __future__ import annotations

import json

from workflows.workflow_cli import run_workflow

TEMPLATE = "wan22-i2v-gguf-lightning"


def test_render_json_without_output_prints_the_document_with_the_workflow():
    result = run_workflow("render", TEMPLATE, "--tier", "large", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "wanprov.workflow-render/1"
    assert (document["template"], document["tier"], document["profile"]) == (
        TEMPLATE,
        "large",
        "wan22-i2v-a14b-q5-lightning",
    )
    assert (document["params"]["width"], document["params"]["height"]) == (1280, 720)
    assert document["output"] is None
    assert any(node["class_type"] == "UnetLoaderGGUF" for node in document["prompt"].values())
    assert document["notes"] and result.stderr == ""  # notes are in the document, not on stderr


def test_render_json_with_output_writes_the_file_and_names_it(tmp_path):
    out, editor = tmp_path / "wan.json", tmp_path / "wan.editor.json"
    result = run_workflow(
        "render", TEMPLATE, "--tier", "medium", "-o", str(out), "--editor-out", str(editor), "--format=json"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["output"], document["editor_out"]) == (str(out), str(editor))
    assert json.loads(out.read_text()) == document["prompt"]
    assert "nodes" in json.loads(editor.read_text())


def test_render_text_still_prints_the_workflow_alone():
    result = run_workflow("render", TEMPLATE, "--tier", "medium")
    assert result.returncode == 0
    assert "schema" not in json.loads(result.stdout)
