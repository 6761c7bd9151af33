"""runner.decide and runner.sensitivity: the framework's branches (fake jobs, hand-made
records), the fallback's bisection, and the real thing on a model with one fragile layer."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from runner import decide
from runner.policy import walk
from runner.policy.sensitivity import BLOCK, group_units
from runner.policy.walk import Walker, search
from runner.report.verdict import Thresholds
from tests.conftest import FAST, typed

TH = Thresholds()


def record(drop: float, speedup: float = 2.0, status: str = "ok", ci: float = 0.002, **kw):
    """A hand-made ok record: accuracy 0.9 at FP32, `drop` relative, a tight paired CI."""
    base = 0.9
    value = base * (1 - drop)
    return {
        "status": status,
        "reason": kw.get("reason"),
        "axes": {"model": "m", "dataset": "d", "precision": kw.get("precision", "int8"),
                 "method": kw.get("method", "ptq"), "target": "t", "backend": "b"},
        "task": "classification",
        "metric": {"name": "accuracy", "higher_is_better": True, "value": value,
                   "baseline": base, "delta_abs": value - base,
                   "ci95": [value - base - ci, value - base + ci], "n_samples": 5000},
        "speedup": speedup, "speedup_ci": [speedup * 0.95, speedup * 1.05],
        "size_bytes": kw.get("size", 1_000_000), "baseline_size_bytes": 4_000_000,
        "compression": 4.0, "quantized_fraction": 1.0, "latency": {"p50_ms": 1.0},
        "target_budget": {},
    }  # fmt: skip


class Fakes:
    """Jobs answered from a table; ranking and subset drops from plain functions."""

    def __init__(self, jobs: dict, ranking=None, drop_of=None, kinds=None, everything=0.2):
        self.jobs, self.calls, self.ranked, self.evaluated = jobs, [], [], []
        self.ranking, self.kinds, self.everything = ranking or [], kinds or [], everything
        self.drop_of = drop_of or (lambda patterns: 0.0)

    def job(self, name, overrides):
        self.calls.append((name, list(overrides)))
        return self.jobs[name]

    def rank(self, over, unit):
        self.ranked.append(list(over))
        return {
            "ranking": self.ranking if unit == "auto" else self.kinds,
            "subset": {"rows": 10, "of": "samples"},
            "all_quantized": {"drop": self.everything},
        }

    def subset_drop(self, over, key, patterns):
        self.evaluated.append((key, list(patterns)))
        return self.drop_of(patterns)

    def walker(self, lm=False, max_kept=0.25):
        return Walker(lm, TH, self.job, self.rank, self.subset_drop, max_kept=max_kept)


def units(n: int, bad: tuple[str, ...] = ()) -> list[dict]:
    """A ranking of n units, `bad` ones first (as sensitivity orders them)."""
    names = [*bad, *(f"u{i}" for i in range(n) if f"u{i}" not in bad)]
    return [{"unit": u, "patterns": [u], "drop": 0.1 if u in bad else 0.0} for u in names]


def test_int8_that_ships_stops_there():
    f = Fakes({"fp32_ptq": record(0.0, 1.0, precision="fp32"), "int8_ptq": record(0.002)})
    t = f.walker().walk([], [])
    assert [c[0] for c in f.calls] == ["fp32_ptq", "int8_ptq"]
    assert f.ranked == [] and len(t.decisions) == 1
    assert t.decisions[0].record is f.jobs["int8_ptq"] and t.decisions[0].job == "int8_ptq"


def test_a_drop_between_the_thresholds_tries_qat_and_ships_it():
    f = Fakes({"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02),
               "int8_qat": record(0.004, method="qat")})  # fmt: skip
    t = f.walker().walk([], [])
    assert [c[0] for c in f.calls] == ["fp32_ptq", "int8_ptq", "int8_qat"]
    assert "method=qat" in f.calls[-1][1] and f.ranked == []
    assert t.decisions[0].job == "int8_qat"


@pytest.mark.parametrize("qat", ["skipped", "not enough"])
def test_qat_that_cannot_run_or_falls_short_goes_to_the_fallback(qat):
    q = (
        record(0.0, status="skipped", reason="no torch module")
        if qat == "skipped"
        else record(0.02, method="qat")
    )
    ranking = units(8, bad=("u5",))
    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02), "int8_qat": q,
         "int8_ptq_mixed": record(0.003, 1.8)},
        ranking, lambda p: 0.0 if "u5" in p else 0.02,
    )  # fmt: skip
    t = f.walker().walk([], [])
    assert [c[0] for c in f.calls] == ["fp32_ptq", "int8_ptq", "int8_qat", "int8_ptq_mixed"]
    assert "model.keep_float=['u5']" in f.calls[-1][1]
    assert t.decisions[0].job == "int8_ptq_mixed"


def test_over_the_qat_threshold_keeps_the_fewest_harmful_units_float():
    ranking = units(40, bad=("u7", "u3"))
    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3),
         "int8_ptq_mixed": record(0.004, 1.7)},
        ranking, lambda p: 0.3 if "u7" not in p else 0.1 if "u3" not in p else 0.001,
    )  # fmt: skip
    t = f.walker().walk(["method.backend=x"], [])
    name, over = f.calls[-1]
    assert name == "int8_ptq_mixed" and "int8_qat" not in [c[0] for c in f.calls]
    assert "model.keep_float=['u7','u3']" in over and "method.backend=x" in over
    # bisection: at most ceil(log2(10)) + 1 subset evaluations for 10 candidates (25 % of 40)
    assert len(f.evaluated) <= 5
    assert t.decisions[0].record is f.jobs["int8_ptq_mixed"]
    assert "u7, u3" in t.steps[-1].figures


def test_a_fallback_that_cannot_reach_the_thresholds_says_stay_and_runs_no_mixed_job():
    f = Fakes({"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3)}, units(12), lambda p: 0.2)
    t = f.walker().walk([], [])
    assert [c[0] for c in f.calls] == ["fp32_ptq", "int8_ptq"]
    assert t.decisions[0].record is None and "stay FP16/FP32" in t.decisions[0].why
    assert "+20.00 %" in t.decisions[0].why  # the numbers that say why


def test_an_error_in_the_fallback_ends_that_precision_in_the_trail_not_the_walk():
    def broken(over, key, patterns):
        raise RuntimeError("layers meant for 8 bits are not stored at 8 bits: ['x']")

    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3),
         "int4_ptq": record(0.002, precision="int4")},
        units(4),
    )  # fmt: skip
    f.subset_drop = broken
    t = f.walker(lm=True).walk([], [])
    d = {x.precision: x for x in t.decisions}
    assert d["int8"].record is None and "not stored at 8 bits" in d["int8"].why
    assert d["int4"].job == "int4_ptq"  # the walk went on
    assert t.steps[-2].label == "failed"


def test_a_target_already_met_with_every_layer_quantized_is_not_searched():
    """A language model's INT8 in the QAT band: the fallback tries for the ship threshold;
    failing that, it keeps nothing just to stay in the band it was already in."""
    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02), "int4_ptq": record(0.001)},
        units(8), lambda p: 0.015, everything=0.02,
    )  # fmt: skip
    t = f.walker(lm=True).walk([], [])
    assert "int8_ptq_mixed" not in [c[0] for c in f.calls]
    assert len(f.evaluated) == 1  # the ship search's check of n_max, no QAT search
    assert {d.precision: d for d in t.decisions}["int8"].record is None


def test_a_failed_mixed_job_is_said_to_have_failed():
    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3),
         "int8_ptq_mixed": record(0.0, status="failed", reason="killed by the OOM killer")},
        units(4, bad=("u1",)), lambda p: 0.0 if "u1" in p else 0.3,
    )  # fmt: skip
    t = f.walker().walk([], [])
    assert t.steps[-1].label == "failed" and "OOM" in t.decisions[0].why
    assert "stay" not in t.decisions[0].why


def test_layer_patterns_end_where_a_part_of_the_name_ends():
    from runner.backends import matches

    assert matches("node_MatMul_51", ["node_MatMul_51"])
    assert not matches("node_MatMul_51", ["node_MatMul_5"])  # an exact name is not a prefix
    assert not matches("/fc/MatMul_1", ["/fc/MatMul"])
    assert matches("/lm_head/MatMul", ["lm_head"]) and matches("lm_head", ["lm_head"])
    assert matches("/model/layers.1/mlp/up_proj/MatMul", ["/model/layers.1/"])
    assert not matches("/model/layers.11/mlp/up_proj/MatMul", ["/model/layers.1/"])
    assert matches("model.layers.1.mlp", ["model.layers.1"])
    assert not matches("model.layers.10.mlp", ["model.layers.1"])
    assert matches("/model/layers.7/mlp/down_proj/MatMul", ["/model/layers.*/mlp/down_proj/*"])


def test_when_blocks_cannot_do_it_the_fallback_ranks_kinds_across_blocks():
    kinds = [
        {"unit": "/m/layers.*/down/MatMul", "patterns": ["/m/layers.*/down/MatMul"], "drop": 0.1},
        {"unit": "/m/layers.*/up/MatMul", "patterns": ["/m/layers.*/up/MatMul"], "drop": 0.0},
    ]
    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.3),
         "int8_ptq_mixed": record(0.002, 1.6)},
        units(8), lambda p: 0.001 if "/m/layers.*/down/MatMul" in p else 0.3, kinds,
    )  # fmt: skip
    t = f.walker().walk([], [])
    assert len(f.ranked) == 2  # blocks first, then kinds
    kept = "model.keep_float=['/m/layers.*/down/MatMul']"
    assert f.calls[-1] == ("int8_ptq_mixed", ["precision=int8", "method=ptq", kept])
    assert t.decisions[0].job == "int8_ptq_mixed"
    assert [s.label for s in t.steps].count("not enough") == 1


@pytest.mark.parametrize(
    "rec,expect",
    [
        (record(0.002, speedup=0.8), "no gain"),
        (record(0.0, status="failed", reason="boom"), "boom"),
    ],
)
def test_no_gain_or_a_failed_int8_stops_without_a_fallback(rec, expect):
    f = Fakes({"fp32_ptq": record(0.0, 1.0), "int8_ptq": rec})
    t = f.walker().walk([], [])
    assert f.ranked == [] and t.decisions[0].record is None and expect in t.decisions[0].why


def test_a_language_model_also_walks_int4_with_8_bit_layers_as_its_fallback():
    ranking = units(8, bad=("lm_head",))
    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.003),
         "int4_ptq": record(0.2, 2.5, precision="int4"),
         "int4_ptq_mixed": record(0.02, 2.3, precision="int4")},
        ranking, lambda p: 0.01 if "lm_head" in p else 0.2,
    )  # fmt: skip
    t = f.walker(lm=True).walk([], ["precision.int4_algorithm=gptq"])
    assert [c[0] for c in f.calls] == ["fp32_ptq", "int8_ptq", "int4_ptq", "int4_ptq_mixed"]
    assert "model.int8_layers=['lm_head']" in f.calls[-1][1]
    assert "precision.int4_algorithm=gptq" in f.calls[-1][1]
    d = {x.precision: x for x in t.decisions}
    assert d["int8"].job == "int8_ptq"
    # 2 % is in the QAT band: not shipped, and the trail says what comes next
    assert d["int4"].record is None and "QAT" in d["int4"].why
    assert d["int4"].candidate is f.jobs["int4_ptq_mixed"]  # its recipe starts the next step


def test_a_language_model_in_the_qat_band_skips_qat():
    f = Fakes(
        {"fp32_ptq": record(0.0, 1.0), "int8_ptq": record(0.02), "int4_ptq": record(0.001),
         "int8_ptq_mixed": record(0.001)},
        units(4, bad=("u1",)), lambda p: 0.0 if "u1" in p else 0.02,
    )  # fmt: skip
    f.walker(lm=True).walk([], [])
    assert "int8_qat" not in [c[0] for c in f.calls]


def test_search_finds_the_fewest_units_with_few_evaluations():
    for need in range(1, 33):
        calls = []

        def f(k, need=need, calls=calls):
            calls.append(k)
            return 0.0 if k >= need else 1.0

        assert search(f, 32, 0.5, {}) == need
        assert len(calls) <= 6  # 1 check of n_max + log2(32) bisection steps
    assert search(lambda k: 1.0, 32, 0.5, {}) is None
    seen = {}
    search(lambda k: 0.0 if k >= 3 else 1.0, 8, 0.5, seen)
    assert seen[3] == 0.0 and seen[2] == 1.0  # the evaluations it stood on, for the trail


def test_the_fallback_keeps_at_most_a_share_of_the_layers():
    def unit(name, layers):
        return {"unit": name, "patterns": [name], "layers": layers}

    blocks = [unit(f"b{i}", [f"b{i}.{j}" for j in range(4)]) for i in range(10)]  # 40 layers
    assert walk.most_kept(blocks, 0.25) == 2  # 3 blocks = 12 layers > 10
    assert walk.most_kept(blocks, 0.3) == 3
    kind = unit("*.0", [f"b{i}.0" for i in range(10)])  # overlaps every block
    assert walk.most_kept([kind, *blocks], 0.4) == 3  # 10 + 3 + 3 = 16 of 40
    assert walk.most_kept([kind, *blocks], 0.01) == 1  # never below one unit
    assert walk.most_kept(blocks, 1.0) == 10


def test_units_group_transformer_blocks_and_keep_other_layers_alone():
    names = [
        "/model/layers.0/self_attn/q_proj/MatMul",
        "/model/layers.0/mlp/down_proj/MatMul",
        "/model/layers.1/self_attn/q_proj/MatMul",
        "/model/layers.10/self_attn/q_proj/MatMul",
        "/lm_head/MatMul",
    ]
    got = group_units(names)
    assert [u.name for u in got] == [
        "/model/layers.0/", "/model/layers.1/", "/model/layers.10/", "/lm_head/MatMul",
    ]  # fmt: skip
    assert got[0].members == tuple(names[:2]) and got[0].patterns == ("/model/layers.0/",)
    # a block's pattern is a substring of its own layers' names only (layers.1 vs layers.10)
    assert [n for n in names if got[1].patterns[0] in n] == [names[2]]
    assert len(group_units(names, "layer")) == 5
    assert [u.name for u in group_units(["conv1", "conv2", "fc"])] == ["conv1", "conv2", "fc"]
    # names without a block (torch's exporter): the module path from the metadata decides
    scoped = group_units(
        ["node_MatMul_1", "node_MatMul_2", "node_MatMul_9"],
        scopes={"node_MatMul_1": "encoder.layer.0.attention.self.query",
                "node_MatMul_2": "encoder.layer.0.output.dense",
                "node_MatMul_9": "pooler.dense"},
    )  # fmt: skip
    assert [u.members for u in scoped] == [("node_MatMul_1", "node_MatMul_2"), ("node_MatMul_9",)]
    assert scoped[0].patterns == ("node_MatMul_1", "node_MatMul_2")
    assert BLOCK.match("transformer.h.3.attn.c_attn") is not None


# --- the real thing: a model with one fragile layer --------------------------------------


def fragile_model(folder: Path, rows: int = 600) -> tuple[Path, Path]:
    """An MLP whose second layer reads an activation with a huge outlier channel (10,000 against
    values of a few units), which that layer's weights ignore in float: per-tensor INT8 of
    that layer's input wipes out every other channel. Labels are FP32's own predictions."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.6, (16, 32)).astype(np.float32)
    b1 = np.zeros(32, np.float32)
    b1[0] = 10000.0
    w2 = rng.normal(0, 0.4, (32, 32)).astype(np.float32)
    w2[0] = 0.0
    w3 = rng.normal(0, 0.4, (32, 4)).astype(np.float32)
    x = rng.normal(0, 1, (rows, 16)).astype(np.float32)
    logits = np.maximum(np.maximum(x @ w1 + b1, 0) @ w2, 0) @ w3
    b3 = -np.median(logits, axis=0).astype(np.float32)  # classes about equally frequent
    weights = ((w1, "w1"), (b1, "b1"), (w2, "w2"), (w3, "w3"), (b3, "b3"))
    inits = [numpy_helper.from_array(a, n) for a, n in weights]
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h1"], name="fc1"),
        helper.make_node("Add", ["h1", "b1"], ["h1b"], name="fc1_bias"),
        helper.make_node("Relu", ["h1b"], ["a1"], name="relu1"),
        helper.make_node("MatMul", ["a1", "w2"], ["h2"], name="fc2"),
        helper.make_node("Relu", ["h2"], ["a2"], name="relu2"),
        helper.make_node("MatMul", ["a2", "w3"], ["h3"], name="fc3"),
        helper.make_node("Add", ["h3", "b3"], ["output"], name="fc3_bias"),
    ]
    graph = helper.make_graph(
        nodes, "fragile",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4])],
        inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "fragile.onnx"
    onnx.save(model, str(path))
    y = (logits + b3).argmax(axis=1)
    # rows FP32 decides with a clear margin: the small rounding of the robust layers flips
    # none of them, so what breaks is the outlier layer alone
    top2 = np.sort(logits + b3, axis=1)[:, -2:]
    keep = (top2[:, 1] - top2[:, 0]) > np.quantile(top2[:, 1] - top2[:, 0], 0.1)
    x, y = x[keep], y[keep]
    csv = folder / "data.csv"
    cols = ",".join(f"f{i}" for i in range(16))
    lines = [f"{cols},label"] + [
        ",".join(f"{v:.6f}" for v in r) + f",{c}" for r, c in zip(x, y, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n")
    return path, csv


@pytest.fixture
def fragile(tmp_path, cache_dir):
    return fragile_args(tmp_path, cache_dir)


@pytest.fixture
def fragile_big(tmp_path, cache_dir):
    """Enough rows that, with 256 set apart for selection, a lossless candidate's interval
    on the rest clears the 1 % bar (Tango's, with no disagreement, is about 3.8 / n wide)."""
    return fragile_args(tmp_path, cache_dir, rows=1600)


def fragile_args(tmp_path, cache_dir, rows: int = 600) -> list[str]:
    model, data = fragile_model(tmp_path, rows)
    return [
        *FAST,
        "latency.session_runs=2",
        f"cache_dir={cache_dir}",
        "model=onnx_file",
        f"model.path={model}",
        "dataset=csv",
        f"dataset.path={data}",
    ]


def test_sensitivity_ranks_the_fragile_layer_first(fragile, tmp_path):
    from runner.policy.sensitivity import Probe, rank

    cfg = typed(*fragile, "precision=int8", "method.backend=ort_dynamic_int8")
    probe = Probe(cfg, tmp_path / "probe")
    try:
        s = rank(probe)
        kept = probe.score(replace(cfg, model=replace(cfg.model, keep_float=["fc2"])))
    finally:
        probe.close()
    top, rest = s["ranking"][0], s["ranking"][1:]
    assert top["layers"] == ["fc2"], s["ranking"]
    assert top["drop"] > 0.1 and all(r["drop"] < top["drop"] / 10 for r in rest)
    assert s["all_quantized"]["drop"] > 0.1  # the whole INT8 model is broken by that layer
    assert kept["drop"] < 0.02 and kept["keep_float"] == ["fc2"]  # and keeping it float mends it


def test_dynamic_int8_keeps_the_named_layers_float(fragile, run_job, tmp_path):
    import onnx

    rec = run_job(*fragile, "precision=int8", "method.backend=ort_dynamic_int8",
                  "model.keep_float=[fc2]", job_dir=tmp_path / "kept")  # fmt: skip
    assert rec["status"] == "ok", rec["reason"]
    assert rec["details"]["keep_float_layers"] == ["fc2"]
    ops = {n.name: n.op_type for n in onnx.load(str(tmp_path / "kept" / "model.onnx")).graph.node}
    assert ops["fc2"] == "MatMul"  # read back from the graph: float
    assert list(ops.values()).count("MatMulInteger") == 2  # fc1 and fc3 are INT8
    bad = run_job(*fragile, "precision=int8", "method.backend=ort_dynamic_int8",
                  "model.keep_float=[nosuchlayer]", job_dir=tmp_path / "bad")  # fmt: skip
    assert bad["status"] == "failed" and "matches no" in bad["reason"]


def test_decide_walks_to_a_mixed_candidate_that_ships(fragile_big, tmp_path, capsys):
    fragile = fragile_big
    out = tmp_path / "decide"
    # a model this small is not faster in INT8 (the walk would stop at "no gain"): judge the
    # metric alone, as summary.min_speedup=0 lets a user do
    fragile = [*fragile, "summary.min_speedup=0"]
    code = decide.main([*fragile, "--int8-backend", "ort_dynamic_int8", "--out", str(out)])
    assert code == 0
    said = capsys.readouterr().out
    trail = (out / "decision.md").read_text()
    assert "stay FP16" in trail or "try QAT" in trail  # fully quantized INT8 is broken
    assert "fc2" in (out / "sensitivity_int8" / "sensitivity.md").read_text().split("| 1 |")[1]
    assert (out / "sensitivity_int8" / "sensitivity.png").stat().st_size > 1000
    mixed = json.loads(next(out.glob("*_int8_ptq_mixed/result.json")).read_text())
    assert mixed["status"] == "ok" and mixed["details"]["keep_float_layers"] == ["fc2"]
    assert mixed["metric"]["value"] >= mixed["metric"]["baseline"] - 0.02
    recipe = (out / "recommended_int8.yaml").read_text()
    assert "keep_float" in recipe and "fc2" in recipe
    assert "INT8" in said and "int8_ptq_mixed" in said
    assert "mixed(1 float)" in (out / "summary.md").read_text()
    # resume: the same command again runs no job and no probe (records and memo reused), and
    # an earlier walk's recipe does not outlive the new trail
    (out / "candidate_int4.yaml").write_text("defaults: [config]\n")
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    assert decide.main([*fragile, "--int8-backend", "ort_dynamic_int8", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")} == before
    assert not (out / "candidate_int4.yaml").exists() and (out / "recommended_int8.yaml").exists()


def test_a_walk_that_breaks_still_writes_its_trail_and_exits_1(cache_dir, tmp_path, monkeypatch):
    def broken(self, extra):
        raise RuntimeError("the INT8 step broke")

    monkeypatch.setattr(walk.Walker, "int8", broken)
    out = tmp_path / "d"
    assert decide.main([*FAST, f"cache_dir={cache_dir}", "--out", str(out)]) == 1
    trail = (out / "decision.md").read_text()
    assert "FP32 reference" in trail and "RuntimeError: the INT8 step broke" in trail


@pytest.mark.parametrize(
    "args,says",
    [
        (["precision=int8"], "set by the walk"),
        (["model=nosuchmodel"], "nosuchmodel"),
        (["--max-kept", "0"], "--max-kept"),
        (["--int8-backend", "ort_int4_matmulnbits"], "ort_dynamic_int8"),
        (["--samples", "0"], "--samples"),
        (["--config-dir=/tmp"], "unrecognized"),
    ],
)
def test_decide_refuses_bad_input_in_one_line(args, says, capsys):
    try:
        code = decide.main(args)
    except SystemExit as exc:  # argparse's own usage error
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and says in err


def test_sensitivity_refuses_a_float_precision(capsys):
    from runner import sensitivity

    assert sensitivity.main(["precision=fp32", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "precision=int8" in err


def test_sensitivity_of_a_torch_backend_names_modules_and_quantizes_only_that_one(
    cache_dir, tmp_path
):
    import torch

    from runner.policy.sensitivity import Probe, rank

    cfg = typed(*FAST, f"cache_dir={cache_dir}", "precision=int8",
                "method.backend=torchao_int8_dynamic")  # fmt: skip
    probe = Probe(cfg, tmp_path / "probe", samples=64)
    try:
        linear = [
            n for n, m in probe.model.module.named_modules() if isinstance(m, torch.nn.Linear)
        ]
        s = rank(probe, "layer")
        job = probe._job(cfg, [linear[0]])
        probe.backend.quantize(job)
        quantized = [  # torchao swaps a quantized Linear's weight for a tensor subclass
            n
            for n, m in job.session.module.named_modules()
            if isinstance(m, torch.nn.Linear) and type(m.weight.data) is not torch.Tensor
        ]
    finally:
        probe.close()
    assert sorted(r["unit"] for r in s["ranking"]) == sorted(linear) and len(linear) >= 2
    assert quantized == [linear[0]]  # only the named module carries a quantized weight


def test_weight_only_sensitivity_quantizes_only_the_named_matmul(fragile, tmp_path):
    import onnx

    from runner.policy.sensitivity import Probe

    cfg = typed(*fragile, "precision=int4", "method.backend=ort_int4_matmulnbits")
    probe = Probe(cfg, tmp_path / "probe")
    try:
        assert probe.layers() == ["fc1", "fc2", "fc3"]
        job = probe._job(cfg, ["fc2"])
        graph = onnx.load(str(probe.backend.quantize(job))).graph
    finally:
        probe.close()
    ops = {n.name: n.op_type for n in graph.node}
    assert ops["fc1"] == ops["fc3"] == "MatMul"  # read back from the graph: float
    assert [n.op_type for n in graph.node if n.name.startswith("fc2")] == ["MatMulNBits"]
