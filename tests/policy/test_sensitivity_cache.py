"""runner.policy.sensitivity's resume, called directly: a ranking read back from a folder is
received data, reused only when its key matches and every name and figure has its shape
(_usable, cached); anything else is ranked again."""

from __future__ import annotations

import copy
import json
import math
import os

import pytest

from runner.policy.sensitivity import SENSITIVITY_FILE, _usable, cached

KEY = {"overrides": ["precision=int8"], "unit": "auto", "samples": 8}


def ranking() -> dict:
    """A well-formed ranking as rank() writes it, with its key."""
    return {
        "model": "m", "dataset": "d", "precision": "int8", "backend": "b", "target": "t",
        "unit": "auto", "metric": "accuracy", "higher_is_better": True, "baseline": 0.9,
        "subset": {"rows": 8, "of": "samples"}, "selection_rows": 0,
        "all_quantized": {"value": 0.8, "drop": 0.111},
        "ranking": [
            {"unit": "fc1", "layers": ["fc1"], "patterns": ["fc1"], "value": 0.85,
             "drop": 0.055, "drop_ci": [0.01, 0.1]},
            {"unit": "b.0/", "layers": ["b.0/x", "b.0/y"], "patterns": ["b.0/"], "value": 0.9,
             "drop": 0, "drop_ci": [None, None]},
        ],
        "seconds": 1, "key": copy.deepcopy(KEY),
    }  # fmt: skip


def test_a_well_formed_ranking_is_usable():
    assert _usable(ranking()) is True


def test_an_empty_ranking_is_usable():
    s = ranking()
    s["ranking"] = []
    assert _usable(s) is True


NAMES = ["model", "dataset", "precision", "backend", "target", "unit", "metric"]
FIGURES = [("baseline",), ("seconds",), ("subset", "rows"), ("all_quantized", "value"),
           ("all_quantized", "drop")]  # fmt: skip
ROW = [("ranking", 1, k) for k in ("value", "drop")]


def corrupt(path: tuple, value) -> dict:
    s = ranking()
    *up, last = path
    at = s
    for k in up:
        at = at[k]
    if value is KeyError:
        del at[last]
    else:
        at[last] = value
    return s


@pytest.mark.parametrize(
    "path,value",
    [((k,), v) for k in NAMES for v in (1, None, ["m"], KeyError)]
    + [(("subset", "of"), v) for v in (8, None, KeyError)]
    + [(p, v) for p in FIGURES + ROW
       for v in (True, "1", None, math.nan, math.inf, -math.inf, [1], KeyError)]
    + [(("ranking", 0, "unit"), v) for v in (1, None, ["fc1"], KeyError)]
    + [(("ranking", 1, k), v) for k in ("layers", "patterns")
       for v in ("b.0/", [1], ["ok", None], None, ("b.0/",), KeyError)]
    + [(("ranking", 0, "drop_ci"), v) for v in ([0.01, math.nan], [math.nan, 0.1],
       [0.01, None], [0.01, "0.1"], [True, 0.1], [0.01], [0.01, 0.1, 0.2], None, KeyError)]
    + [(("ranking",), v) for v in (None, 3, [None], [[1]], KeyError)]
    + [((k,), v) for k in ("subset", "all_quantized") for v in (None, "x", [], KeyError)],
)  # fmt: skip
def test_a_ranking_with_a_field_out_of_shape_is_not_usable(path, value):
    assert _usable(corrupt(path, value)) is False


@pytest.mark.parametrize("s", [None, [], "ranking", 3, {}])
def test_what_is_not_a_ranking_is_not_usable(s):
    assert _usable(s) is False


@pytest.mark.parametrize(
    "path,value",
    [(("baseline",), 0), (("baseline",), -2.5), (("seconds",), 0.0),
     (("ranking", 0, "drop"), -0.2), (("ranking", 0, "drop_ci"), [-1, 0])],
)  # fmt: skip
def test_finite_numbers_of_any_sign_and_a_missing_interval_are_usable(path, value):
    assert _usable(corrupt(path, value)) is True


def put(folder, data) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SENSITIVITY_FILE).write_text(json.dumps(data))


def test_cached_returns_an_earlier_ranking_made_with_the_same_key(tmp_path):
    put(tmp_path, ranking())
    assert cached(tmp_path, copy.deepcopy(KEY)) == ranking()


@pytest.mark.parametrize(
    "other",
    [{**KEY, "samples": 9}, {**KEY, "unit": "kind"}, {**KEY, "overrides": []}, {}, None],
)
def test_cached_ignores_a_ranking_made_with_other_settings(tmp_path, other):
    put(tmp_path, ranking())
    assert cached(tmp_path, other) is None


def test_cached_ignores_a_ranking_without_a_key(tmp_path):
    s = ranking()
    del s["key"]
    put(tmp_path, s)
    assert cached(tmp_path, KEY) is None


def test_cached_ignores_a_ranking_out_of_shape_even_with_its_key(tmp_path):
    put(tmp_path, corrupt(("ranking", 0, "drop"), "0.5"))
    assert cached(tmp_path, KEY) is None


@pytest.mark.parametrize("text", ["[1, 2]", '"x"', "{", "", "null"])
def test_cached_ignores_what_is_not_a_json_object(tmp_path, text):
    (tmp_path / SENSITIVITY_FILE).write_text(text)
    assert cached(tmp_path, KEY) is None


def test_cached_ignores_a_missing_file_or_folder(tmp_path):
    assert cached(tmp_path, KEY) is None and cached(tmp_path / "no", KEY) is None


def test_cached_refuses_a_symlink_to_a_good_ranking(tmp_path):
    put(tmp_path / "elsewhere", ranking())
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "elsewhere" / SENSITIVITY_FILE, tmp_path / "out" / SENSITIVITY_FILE)
    assert cached(tmp_path / "out", KEY) is None


def test_cached_reads_the_ranking_by_its_name(tmp_path):
    put(tmp_path, ranking())
    os.rename(tmp_path / SENSITIVITY_FILE, tmp_path / "other.json")
    assert cached(tmp_path, KEY) is None
