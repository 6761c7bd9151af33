"""runner.policy.sensitivity's units and ranking record, exactly: each unit kind's names,
members and patterns written out here, and every field rank() records (what decide and the
resume read back), on a fake probe with a fake clock."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from runner.policy import sensitivity
from runner.policy.sensitivity import Unit, group_units, rank
from tests.policy.test_sensitivity_ranking import DROPS, EVERYTHING, FakeProbe

NAMES = [
    "/model/layers.0/attn/q/MatMul",
    "/model/layers.0/mlp/down/MatMul",
    "/model/layers.1/attn/q/MatMul",
    "/model/layers.1/mlp/down/MatMul",
    "/lm_head/MatMul",
]


def test_layer_units_are_the_names_themselves():
    assert group_units(NAMES, "layer") == [Unit(n, (n,), (n,)) for n in NAMES]


def test_block_units_group_a_blocks_layers_under_its_prefix():
    assert group_units(NAMES, "block") == [
        Unit("/model/layers.0/", tuple(NAMES[:2]), ("/model/layers.0/",)),
        Unit("/model/layers.1/", tuple(NAMES[2:4]), ("/model/layers.1/",)),
        Unit("/lm_head/MatMul", ("/lm_head/MatMul",), ("/lm_head/MatMul",)),
    ]
    assert group_units(NAMES, "auto") == group_units(NAMES, "block")


def test_kind_units_take_one_layer_of_every_block_as_a_wildcard():
    q, down = "/model/layers.*/attn/q/MatMul", "/model/layers.*/mlp/down/MatMul"
    assert group_units(NAMES, "kind") == [
        Unit(q, (NAMES[0], NAMES[2]), (q,)),
        Unit(down, (NAMES[1], NAMES[3]), (down,)),
        Unit("/lm_head/MatMul", ("/lm_head/MatMul",), ("/lm_head/MatMul",)),
    ]
    dotted = ["h.0.mlp", "h.1.mlp", "blocks_2.fc", "block_3.fc"]
    assert [u.name for u in group_units(dotted, "kind")] == ["h.*.mlp", "blocks_*.fc", "block_*.fc"]


def test_auto_without_blocks_keeps_layers_and_block_names_one_layer_blocks():
    one_each = ["layers.0.fc", "layers.1.fc", "head"]
    assert group_units(one_each, "auto") == [Unit(n, (n,), (n,)) for n in one_each]
    assert group_units(one_each, "block") == [
        Unit("layers.0.", ("layers.0.fc",), ("layers.0.",)),
        Unit("layers.1.", ("layers.1.fc",), ("layers.1.",)),
        Unit("head", ("head",), ("head",)),
    ]


def test_a_block_found_by_its_module_scope_is_kept_by_its_member_names():
    scopes = {"n1": "enc.layer.0.q", "n2": "enc.layer.0.out", "n3": "enc.layer.1.q", "n4": "pool"}
    got = group_units(["n1", "n2", "n3", "n4", "n5"], "auto", scopes)
    assert got == [
        Unit("enc.layer.0.", ("n1", "n2"), ("n1", "n2")),
        Unit("enc.layer.1.", ("n3",), ("n3",)),
        Unit("n4", ("n4",), ("n4",)),
        Unit("n5", ("n5",), ("n5",)),
    ]
    # a name that carries its block is grouped by its name, its scope unread
    named = group_units(["a/layers.2/x", "a/layers.2/y"], "block", {"a/layers.2/x": "layers.7.q"})
    assert named == [Unit("a/layers.2/", ("a/layers.2/x", "a/layers.2/y"), ("a/layers.2/",))]


@pytest.mark.parametrize("unit", ["layers", "", "Block", None])
def test_an_unknown_unit_is_refused_in_one_line(unit):
    with pytest.raises(ValueError, match="is unknown; use one of auto, layer, block, kind"):
        group_units(NAMES, unit)


class Clock:
    """perf_counter: 100.0 at the start, 103.2499 after; the rest of `time` as it is."""

    def __init__(self):
        self.ticks = iter([100.0] + [101.0] * len(DROPS) + [103.2499])

    def perf_counter(self):
        return next(self.ticks)


def test_rank_records_every_field_the_resume_and_the_walk_read(monkeypatch):
    monkeypatch.setattr(sensitivity, "time", Clock())
    probe = FakeProbe()
    dataset = SimpleNamespace(name="d", selection_rows=32)
    probe.cfg = SimpleNamespace(**{**vars(FakeProbe.cfg), "dataset": dataset})
    s = rank(probe, "layer")
    first = s["ranking"][0]
    assert {k: v for k, v in s.items() if k != "ranking"} == {
        "model": "m", "dataset": "d", "precision": "int8", "backend": "ort_static_qdq",
        "target": "cpu_x86", "unit": "layer", "metric": "accuracy", "higher_is_better": True,
        "baseline": 0.9, "subset": {"rows": 64, "of": "samples"}, "selection_rows": 32,
        "all_quantized": {"value": pytest.approx(0.9 * (1 - EVERYTHING)), "drop": EVERYTHING},
        "seconds": 3.2,
    }  # fmt: skip
    assert first == {"unit": "fc1", "layers": ["fc1"], "patterns": ["fc1"],
                     "value": pytest.approx(0.9 * 0.85), "drop": 0.15,
                     "drop_ci": [pytest.approx(0.14), pytest.approx(0.16)]}  # fmt: skip
    assert sensitivity._usable(s)


def test_rank_of_a_model_without_layers_is_refused():
    probe = FakeProbe()
    probe.layers = lambda: []
    with pytest.raises(ValueError, match="ort_static_qdq finds no layer to quantize"):
        rank(probe, "layer")
    assert probe.scored == []  # nothing was quantized


def test_a_scope_that_is_the_block_itself_finds_the_block():
    """A layer whose deepest module path is the numbered block (a Sequential's Linear at
    layers.0): its block is found as well as one named inside it."""
    scopes = {"n1": "mlp.layers.0", "n2": "mlp.layers.0", "n3": "mlp.layers.1.fc"}
    assert group_units(["n1", "n2", "n3"], "block", scopes) == [
        Unit("mlp.layers.0.", ("n1", "n2"), ("n1", "n2")),
        Unit("mlp.layers.1.", ("n3",), ("n3",)),
    ]


def test_rank_groups_by_the_probes_module_scopes():
    """Node names that do not carry their block (torch's exporter): rank finds the blocks
    through the probe's scopes and quantizes each block's layers together."""
    probe = FakeProbe()
    probe.scopes = lambda: {"conv1": "net.blocks.0.a", "conv2": "net.blocks.0.b",
                            "fc1": "net.blocks.1.fc", "fc2": "net.blocks.1.fc2"}  # fmt: skip
    s = rank(probe, "block")
    assert sorted(probe.scored[1:]) == [["conv1", "conv2"], ["fc1", "fc2"], ["head"]]
    b0, b1 = DROPS["conv1"] + DROPS["conv2"], DROPS["fc1"] + DROPS["fc2"]
    assert [(r["unit"], r["drop"]) for r in s["ranking"]] == [
        ("net.blocks.1.", pytest.approx(b1)), ("head", DROPS["head"]),
        ("net.blocks.0.", pytest.approx(b0)),
    ]  # fmt: skip
