"""The gate's refusals on the edges: interpolations hidden in mapping keys, a received config
that drops a key, alias counts worked out by hand, a hub snapshot's linked config, a file of
exactly the size limit, and the exact words of a refusal (they name the key, the page and the
fix)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.core import gate


def test_an_interpolation_in_a_mapping_key_or_a_nested_value_is_refused():
    assert "interpolation '${oc.env:HOME}' at x" in gate.value_problem("x", {"${oc.env:HOME}": 1})
    assert "'${a}' at x" in gate.value_problem("x", {"k": ["v", {"w": "${a}"}]})
    assert gate.value_problem("x", {"k": ["v", {"w": 3}]}) is None


def test_a_changed_settable_value_that_interpolates_is_refused_naming_its_key():
    composed = {"model": {"window": "${oc.env:SECRET}", "stride": 64}}
    reference = {"model": {"window": 128, "stride": 64}}
    why = gate.changed_problem(composed, reference)
    assert why == (
        "the interpolation '${oc.env:SECRET}' at model.window is refused: a received config "
        "is never resolved on your machine; write the value itself"
    )
    assert gate.changed_problem({"model": {"window": 256, "stride": 64}}, reference) is None


def test_a_received_config_that_drops_a_key_outside_the_table_is_refused():
    reference = {"model": {"window": 128}, "tracking": {"project": "mine"}}
    why = gate.changed_problem({"model": {"window": 128}}, reference)
    assert why is not None and why.startswith("tracking.project is refused")


def test_leaves_of_a_bare_value_are_none():
    assert gate.leaves(5) == [] and gate.leaves({}) == [] and gate.leaves([1]) == []
    assert gate.leaves({"a": {}}) == [("a", {})]


@pytest.mark.parametrize(
    ("text", "nodes"),
    [
        # mapping 1 + keys a, b, c 3 + three copies of the 3-node list [1, 2]
        ("a: &x [1, 2]\nb: *x\nc: *x\n", 1 + 3 + 3 * 3),
        ("a: &s v\nb: *s\n", 1 + 2 + 2),  # a scalar anchor copies one node
        ("a: &m {k: [1, 2, 3]}\nb: [*m, *m]\n", 1 + 2 + 6 + (1 + 2 * 6)),  # nested copies
        ("- 1\n- [2, [3, 4]]\n", 1 + 1 + (1 + 1 + 3)),  # no alias: every node once
    ],
)
def test_expanded_nodes_counts_every_copy_an_alias_makes(text, nodes):
    assert gate.expanded_nodes(text) == nodes


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"k": 12}')  # 9 bytes
    assert gate.regular(path, 9) == 9 and gate.read_json(path, max_bytes=9) == {"k": 12}
    with pytest.raises(gate.Refused, match="9 bytes, over 8; trim it"):
        gate.read_json(path, max_bytes=8)


def test_a_refusal_names_the_key_the_page_and_the_fix():
    assert gate.refusal("model.foo") == (
        "model.foo is refused: a received recipe may set only the group choices and the "
        "settings listed in docs/recipes-and-trust.md; pass model.foo=... on your own command "
        "line if you want it"
    )
    # any trust key, listed or new, is the receiver's decision
    assert gate.refusal("model.trust_everything") == (
        "model.trust_everything is refused: trusting a pickle, TorchScript file or custom code "
        "is the receiver's decision; pass model.trust_everything=true on your own command line "
        "to trust it"
    )


def test_a_long_key_or_interpolation_is_cut_in_the_message():
    key = "model." + "k" * 200
    shown = gate.refusal(key).split(" is refused")[0]
    assert shown == key[:79] + "…"  # 80 characters
    long = "${oc.env:" + "X" * 100 + "}"
    why = gate.value_problem("model.window", long)
    assert f"'{long[:59]}…'" in why  # 60 characters


def hub_snapshot(tmp_path: Path, config: dict) -> Path:
    """A Hugging Face cache snapshot: config.json is a link into the blobs."""
    blobs, snap = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (blobs / "f00d").write_text(json.dumps(config))
    os.symlink(blobs / "f00d", snap / "config.json")
    return snap


def test_custom_code_behind_a_hub_snapshots_link_is_refused(tmp_path):
    snap = hub_snapshot(tmp_path, {"auto_map": {"AutoConfig": "configuration_x.XConfig"}})
    with pytest.raises(gate.Refused, match=r"config.json names custom code \(configuration_x"):
        gate.hf_folder(snap)
    assert gate.hf_folder(snap, trust_remote_code=True) == snap


def test_custom_pipelines_are_custom_code_too(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"custom_pipelines": {"my-task": {"impl": "pipe.MyPipeline"}}})
    )
    with pytest.raises(gate.Refused, match="names custom code"):
        gate.hf_folder(tmp_path)


def test_an_unreadable_config_does_not_hide_the_next_ones_custom_code(tmp_path):
    (tmp_path / "config.json").write_text("{not json")  # sorted first
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"auto_map": {"AutoTokenizer": ["tokenization_x.XTokenizer", None]}})
    )
    with pytest.raises(gate.Refused) as exc:
        gate.hf_folder(tmp_path)
    assert "tokenizer_config.json names custom code (tokenization_x.XTokenizer)" in str(exc.value)


def test_a_config_that_is_not_a_mapping_names_no_code(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    assert gate.hf_folder(tmp_path) == tmp_path


@pytest.mark.parametrize(
    ("auto_map", "named"),
    [
        ({"AutoConfig": "configuration_x.XConfig"}, "configuration_x.XConfig"),  # a value
        (["modeling_x.XModel"], "modeling_x.XModel"),  # a list
        ({"AutoConfig": 12}, "?"),  # no string in it
    ],
)
def test_the_refusal_names_the_first_piece_of_code(tmp_path, auto_map, named):
    (tmp_path / "config.json").write_text(json.dumps({"auto_map": auto_map}))
    with pytest.raises(gate.Refused) as exc:
        gate.hf_folder(tmp_path)
    assert f"config.json names custom code ({named}) that transformers would run" in str(exc.value)


def test_an_undefined_alias_is_refused_as_yaml_not_a_crash(tmp_path):
    assert gate.expanded_nodes("a: 1\nb: *nowhere\n") == 1 + 2 + 1 + 1  # counted as one node
    (tmp_path / "r.yaml").write_text("a: 1\nb: *nowhere\n")
    with pytest.raises(gate.Refused, match="cannot be read as YAML"):
        gate.read_yaml(tmp_path / "r.yaml")


def test_a_file_of_exactly_max_nodes_is_read(tmp_path, monkeypatch):
    text = "a: &x [1, 2]\nb: *x\nc: *x\n"  # 13 nodes, as counted above
    (tmp_path / "r.yaml").write_text(text)
    monkeypatch.setattr(gate, "MAX_NODES", 13)
    assert gate.read_yaml(tmp_path / "r.yaml") == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    monkeypatch.setattr(gate, "MAX_NODES", 12)
    with pytest.raises(gate.Refused, match="expand past 12 YAML nodes"):
        gate.read_yaml(tmp_path / "r.yaml")


def test_a_files_settings_are_judged_at_its_package():
    assert gate.settings_problem({"window": 5, "keep_float": ["fc1"]}, "model") is None
    assert gate.settings_problem({"trust_pickle": True}, "model").startswith(
        "model.trust_pickle is refused: trusting a pickle"
    )
    assert "at model.window is refused" in gate.settings_problem({"window": "${x}"}, "model")
    key = "model." + "w" * 200
    assert f" at {key[:79]}… is refused" in gate.value_problem(key, "${x}")
