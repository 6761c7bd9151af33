"""runner.policy.decide's received data and refusals, called directly: the resume memo
(read_memo) read from a folder that may hold anything, and prepare's refusals of options and
overrides the walk sets itself."""

from __future__ import annotations

import json
import os

import pytest

from runner.core.gate import MAX_JSON
from runner.policy.decide import MEMO, Options, prepare, read_memo


def test_read_memo_keeps_only_finite_numbers_as_floats(tmp_path):
    data = {"a": 1, "b": 2.5, "c": -0.125, "t": True, "f": False, "s": "3", "n": None,
            "l": [1], "d": {"x": 1}}  # fmt: skip
    text = json.dumps(data)[:-1] + ', "nan": NaN, "inf": Infinity, "minf": -Infinity}'
    (tmp_path / MEMO).write_text(text)
    got = read_memo(tmp_path)
    assert got == {"a": 1.0, "b": 2.5, "c": -0.125}
    assert all(type(v) is float for v in got.values())  # an int is read as a float


def test_read_memo_of_an_empty_memo_is_empty(tmp_path):
    (tmp_path / MEMO).write_text("{}")
    assert read_memo(tmp_path) == {}


def test_read_memo_reads_the_memo_by_its_name(tmp_path):
    (tmp_path / "fallback.json").write_text('{"k": 0.5}')
    (tmp_path / "other.json").write_text('{"z": 0.25}')
    assert read_memo(tmp_path) == {"k": 0.5}


@pytest.mark.parametrize(
    "text",
    ['[["k", 0.5]]', '"k"', "0.5", "null", '{"k": 0.5', "", "\x00\xff", '{"k": 0.5} trailing'],
)
def test_read_memo_of_a_malformed_or_partial_memo_is_empty(tmp_path, text):
    (tmp_path / MEMO).write_text(text, encoding="latin-1")
    assert read_memo(tmp_path) == {}


def test_read_memo_without_a_memo_or_folder_is_empty(tmp_path):
    assert read_memo(tmp_path) == {}
    assert read_memo(tmp_path / "missing") == {}


def test_read_memo_refuses_a_symlink_even_to_a_good_memo(tmp_path):
    good = tmp_path / "elsewhere.json"
    good.write_text('{"k": 0.5}')
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(good, out / MEMO)
    assert read_memo(out) == {}


def test_read_memo_refuses_a_folder_or_an_oversized_file(tmp_path):
    (tmp_path / MEMO).mkdir()
    assert read_memo(tmp_path) == {}
    big = tmp_path / "big"
    big.mkdir()
    pad = " " * MAX_JSON  # over the received-JSON bound, still valid JSON
    (big / MEMO).write_text('{"k": 0.5}' + pad)
    assert read_memo(big) == {}


# prepare: the refusals, each one line naming the fix; and what a good call returns


def test_prepare_returns_the_config_and_the_summary_thresholds():
    over = ["summary.ship_below=0.02", "summary.qat_below=0.05", "summary.min_speedup=1.2",
            "summary.objective=size"]  # fmt: skip
    cfg, th = prepare(over, Options())
    assert (th.ship_below, th.qat_below, th.min_speedup, th.objective) == (0.02, 0.05, 1.2, "size")
    assert cfg.summary.ship_below == 0.02 and cfg.model.name == "digits_cnn"


def test_prepare_with_no_overrides_takes_the_documented_defaults():
    cfg, th = prepare([], Options())
    assert (th.ship_below, th.qat_below, th.min_speedup, th.objective) == (
        0.01,
        0.03,
        1.05,
        "latency",
    )
    assert th.confidence == 0.95


@pytest.mark.parametrize(
    "over",
    [
        "precision=int8",
        "method=qat",
        "method.backend=ort_dynamic_int8",
        "+precision=int8",
        "~method=ptq",
        "++method.backend=x",
    ],
)
def test_prepare_refuses_what_the_walk_sets_itself(over):
    with pytest.raises(ValueError, match="set by the walk itself") as e:
        prepare([over], Options())
    assert str(e.value).startswith(over) and "\n" not in str(e.value)


def test_prepare_takes_the_settings_of_what_the_walk_sets():
    cfg, _ = prepare(["method.qat_epochs=2", "precision.int4_algorithm=rtn"], Options())
    assert cfg.method.qat_epochs == 2


@pytest.mark.parametrize(
    "over,says", [(["--max-kept"], "not an override"), (["model"], "not an override")]
)
def test_prepare_refuses_what_is_not_an_override(over, says):
    with pytest.raises(ValueError, match=says):
        prepare(over, Options())


@pytest.mark.parametrize("backend", ["ort_dynamic_int8", "ort_static_qdq"])
def test_prepare_takes_an_int8_backend(backend):
    prepare([], Options(int8_backend=backend))


@pytest.mark.parametrize("backend", ["ort_int4_matmulnbits", "nosuch", "ort_fp16"])
def test_prepare_refuses_a_backend_that_is_not_int8(backend):
    with pytest.raises(ValueError, match=f"--int8-backend {backend} is unknown") as e:
        prepare([], Options(int8_backend=backend))
    int8 = "ort_dynamic_int8, ort_int8_matmulnbits, ort_static_qdq, torchao_int8_dynamic, "
    assert str(e.value).endswith(f"use one of {int8}torchao_qat, torchao_qat_ort")


@pytest.mark.parametrize("samples", [None, 1, 7])
def test_prepare_takes_a_positive_sample_count(samples):
    prepare([], Options(samples=samples))


@pytest.mark.parametrize("samples", [0, -1])
def test_prepare_refuses_a_sample_count_under_one(samples):
    with pytest.raises(ValueError, match=f"--samples {samples} must be at least 1"):
        prepare([], Options(samples=samples))


@pytest.mark.parametrize("share", [1.0, 0.25, 1e-6])
def test_prepare_takes_a_share_in_0_1(share):
    prepare([], Options(max_kept=share))


@pytest.mark.parametrize("share", [0.0, -0.1, 1.0000001, 2.0])
def test_prepare_refuses_a_share_outside_0_1(share):
    with pytest.raises(ValueError, match=f"--max-kept {share} must be a share"):
        prepare([], Options(max_kept=share))
