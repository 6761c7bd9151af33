"""runner.policy.sensitivity.ranked, the resume: a folder without a ranking is ranked with the
unit asked for and written (sensitivity.json holding the settings' key, .md beside it); the
same settings again reuse it without a probe; other settings rank again. rank's own default
unit is auto."""

from __future__ import annotations

import json

from runner.policy.sensitivity import SENSITIVITY_FILE, rank, ranked
from tests.policy.test_sensitivity_ranking import DROPS, FakeProbe

KEY = {"overrides": ["model=m"], "unit": "layer", "samples": None}


class Probes:
    """A probe factory that counts the probes it made."""

    def __init__(self):
        self.made: list[FakeProbe] = []

    def __call__(self) -> FakeProbe:
        self.made.append(FakeProbe())
        return self.made[-1]


def test_ranked_ranks_with_the_unit_asked_and_writes_the_ranking_with_its_key(tmp_path):
    probes = Probes()
    s = ranked(tmp_path, KEY, "layer", probes)
    assert len(probes.made) == 1 and s["unit"] == "layer" and s["key"] == KEY
    assert [r["unit"] for r in s["ranking"]] == sorted(DROPS, key=DROPS.get, reverse=True)
    assert json.loads((tmp_path / SENSITIVITY_FILE).read_text()) == s
    assert "fc1" in (tmp_path / "sensitivity.md").read_text()


def test_the_same_settings_again_reuse_the_ranking_without_a_probe(tmp_path):
    probes = Probes()
    first = ranked(tmp_path, KEY, "layer", probes)
    again = ranked(tmp_path, dict(KEY), "layer", probes)
    assert len(probes.made) == 1 and again == first


def test_other_settings_rank_again_and_replace_the_ranking(tmp_path):
    probes = Probes()
    ranked(tmp_path, KEY, "layer", probes)
    other = {**KEY, "samples": 64}
    s = ranked(tmp_path, other, "layer", probes)
    assert len(probes.made) == 2 and s["key"] == other
    assert json.loads((tmp_path / SENSITIVITY_FILE).read_text())["key"] == other


def test_rank_groups_by_auto_unless_told():
    s = rank(FakeProbe())
    assert s["unit"] == "auto" and [r["layers"] for r in s["ranking"]] == [
        [n] for n in sorted(DROPS, key=DROPS.get, reverse=True)
    ]
