"""summarize() on a hand-made sweep: table, garbage handling, files, and a recipe that composes."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from runner.recipes.export import summarize_sweep as summarize
from runner.report.summary import WIDTH
from runner.summarize import main
from tests.conftest import CONF
from tests.records import baseline_record, flips, make_record, write_job


@pytest.fixture
def sweep(tmp_path):
    """A nested multirun dir: baseline, two ship, one try-QAT INT4, one no-gain, one skipped."""
    root = tmp_path / "multirun"
    over = ["precision=int8", "method=ptq", "target.threads=2", "latency.min_runs=7"]
    write_job(root, "0_fp32/job", baseline_record())
    write_job(root, "1_int8_ptq", make_record("int8", "ptq", drop=0.004, p50=0.03, size=400_000,
                                              overrides=over))  # fmt: skip
    write_job(root, "2_int8_qat", make_record("int8", "qat", drop=0.002, p50=0.035, size=350_000))
    write_job(root, "3_int4_ptq", make_record("int4", "ptq", drop=0.02, p50=0.02, size=200_000))
    write_job(root, "4_fp16_ptq", make_record("fp16", "ptq", drop=0.0, p50=0.08, size=700_000))
    write_job(root, "5_int4_qat", make_record("int4", "qat", status="skipped", reason="no kernels"))
    return root


def _garbage(root):
    """Three unusable result.json files: not JSON, a list, and an ok record without a metric."""
    (root / "9_bad").mkdir(parents=True)
    (root / "9_bad" / "result.json").write_text("{not json")
    (root / "9_list").mkdir()
    (root / "9_list" / "result.json").write_text("[1, 2]")
    rec = make_record()
    rec["metric"]["value"] = "high"
    write_job(root, "9_typed", rec)


def test_one_row_per_job_with_verdicts_and_fronts(sweep):
    s = summarize(sweep, write=False)
    t = s.table.set_index(s.table.precision + "/" + s.table.method)
    assert len(t) == 6 and not s.garbage
    assert t.verdict.to_dict() == {
        "fp32/ptq": "baseline", "int8/ptq": "ship", "int8/qat": "ship",
        "int4/ptq": "try QAT", "fp16/ptq": "no gain", "int4/qat": "skipped",
    }  # fmt: skip
    assert t.loc["int4/ptq", "risky_int4"]
    assert t.loc["int8/ptq", "delta_pct"] == pytest.approx(-0.4)
    assert t.loc["int8/ptq", "speedup"] == pytest.approx(2.0)
    assert t.loc["int8/ptq", "size_mb"] == pytest.approx(0.4)
    # latency front: int4 (fastest), int8/ptq, int8/qat, fp32 (best metric); fp16 is dominated
    assert t.pareto_p50_ms.to_dict() == {
        "fp32/ptq": True, "int8/ptq": True, "int8/qat": True, "int4/ptq": True,
        "fp16/ptq": False, "int4/qat": False,
    }  # fmt: skip
    assert not t.pareto_size_mb["int8/ptq"]  # int8/qat is smaller and better


@pytest.mark.parametrize(("objective", "chosen"), [("latency", "ptq"), ("size", "qat")])
def test_the_recommendation_is_the_objectives_best_ship_candidate(sweep, objective, chosen):
    s = summarize(sweep, objective=objective, write=False)
    rec = s.recommendations[0].record
    assert (rec["axes"]["precision"], rec["axes"]["method"]) == ("int8", chosen)


def test_garbage_records_are_skipped_warned_and_reported(sweep, caplog):
    _garbage(sweep)
    with caplog.at_level(logging.WARNING, logger="runner.report.summary"):
        s = summarize(sweep)
    assert len(s.table) == 6
    assert sorted(p.parent.name for p, _ in s.garbage) == ["9_bad", "9_list", "9_typed"]
    assert sum("skipping" in r.message for r in caplog.records) == 3
    md = (sweep / "summary.md").read_text()
    assert "Unreadable records" in md and "9_typed/result.json: metric.value" in md
    assert "9_bad/result.json" in s.text


def test_files_are_written_and_the_text_fits_100_columns(sweep):
    _garbage(sweep)
    s = summarize(sweep)
    names = {p.name for p in s.written}
    assert names == {"summary.md", "summary.csv", "recommended.yaml", "pareto.png"}
    assert (sweep / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(sweep / "summary.csv")
    assert len(csv) == 6 and {"verdict", "reason", "ci_lo_abs", "pareto_p50_ms"} <= set(csv)
    assert max(map(len, s.text.splitlines())) <= WIDTH
    assert "Recommendation" in s.text and "int8/ptq, the latency-best" in s.text


def test_recommended_yaml_composes_to_the_recommended_job(sweep):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from runner.core.config import register_configs

    summarize(sweep)
    text = (sweep / "recommended.yaml").read_text()
    assert text.startswith("# Recommended by runner.summarize: int8/ptq")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(sweep), version_base="1.3"):
        cfg = compose("recommended", overrides=[f"hydra.searchpath=[file://{CONF}]"])
    assert (cfg.precision.name, cfg.method.name, cfg.target.name) == ("int8", "ptq", "cpu_x86")
    assert (cfg.target.threads, cfg.latency.min_runs) == (2, 7)


def test_when_nothing_ships_the_baseline_is_recommended(tmp_path):
    write_job(tmp_path, "a", baseline_record())
    write_job(tmp_path, "b", make_record("int8", drop=0.05))
    s = summarize(tmp_path)
    rec = s.recommendations[0]
    assert rec.record["axes"]["precision"] == "fp32" and "nothing ships (1 baseline" in rec.why
    assert "override precision: fp32" in (tmp_path / "recommended.yaml").read_text()


def test_outcomes_files_give_the_samples_needed(tmp_path):
    base, cand = flips(500, base_right=450, n10=6, n01=2)
    rec = make_record(drop=(base.mean() - cand.mean()) / 0.9, ci_drop=(0.002, 0.016))
    write_job(tmp_path, "job", rec, outcomes=(base, cand))
    s = summarize(tmp_path, write=False)
    assert s.table.verdict[0] == "inconclusive"
    assert "more validation samples (~" in s.table.reason[0]


def test_the_qat_comparison_and_risky_int4_reach_the_reasons(sweep):
    reasons = summarize(sweep, write=False).table.set_index("precision").reason
    assert "the sweep's QAT run is skipped: no kernels" in reasons["int4"].iloc[0]
    assert "prefer INT8 + pruning" in reasons["int4"].iloc[0]


def test_cli_prints_the_summary_and_rejects_a_missing_dir(sweep, tmp_path, capsys):
    assert main([str(sweep), "--objective", "size", "--ship-below", "0.003"]) == 0
    out = capsys.readouterr().out
    assert "objective size; ship below 0.3%" in out and "wrote " in out
    assert json.loads((sweep / "0_fp32/job/result.json").read_text())["status"] == "ok"
    assert main([str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_an_empty_or_missing_dir_summarizes_to_nothing_without_raising(tmp_path):
    s = summarize(tmp_path / "missing")
    assert s.table.empty and not s.recommendations and not s.written
    s = summarize(tmp_path)
    assert s.table.empty and "no result records" in s.text


def test_broken_outcomes_files_are_ignored_with_a_warning(tmp_path, caplog):
    rec = make_record(drop=0.008, ci_drop=(0.002, 0.014))
    write_job(tmp_path, "short", rec, outcomes=(np.zeros(3), np.zeros(4)))
    write_job(tmp_path, "junk", {**rec, "outcomes_file": "o.npz"})
    (tmp_path / "junk" / "o.npz").write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="runner.report.summary"):
        s = summarize(tmp_path, write=False)
    assert s.table.verdict.tolist() == ["inconclusive", "inconclusive"]
    assert not any("about" in r for r in s.table.reason)
    assert sum("ignoring the outcomes" in r.message for r in caplog.records) == 2


def test_each_target_gets_its_own_recommendation_and_recipe(tmp_path):
    write_job(tmp_path, "x86/base", baseline_record())
    write_job(tmp_path, "x86/int8", make_record("int8", drop=0.001))
    write_job(tmp_path, "arm/int8", make_record("int8", drop=0.05, target="cpu_arm"))
    s = summarize(tmp_path)
    picks = {r.group["target"]: r.record["axes"]["precision"] for r in s.recommendations}
    assert picks == {"cpu_x86": "int8", "cpu_arm": "fp32"}  # the arm sweep ran no baseline
    arm = (tmp_path / "recommended-digits_cnn-digits-cpu_arm.yaml").read_text()
    assert "override target: cpu_arm" in arm and "override precision: fp32" in arm
    assert (tmp_path / "recommended.yaml").is_file()
    assert (tmp_path / "recommended-digits_cnn-digits-cpu_x86.yaml").is_file()


def test_variant_names_the_overrides_that_tell_rows_apart():
    from runner.report.summary import variant

    rec = {
        "choices": {"precision": "int4", "model": "m"},
        "overrides": [
            "precision=int4",
            "precision.int4_algorithm=hqq",
            "cache_dir=/x",
            "hydra.sweep.dir=/y",
            "target.threads=2",
        ],
    }
    assert variant(rec) == "int4_algorithm=hqq threads=2"
    assert variant({"choices": {}, "overrides": []}) == "-"


def test_failed_or_skipped_jobs_are_never_recommended_and_a_failed_baseline_stops_it(tmp_path):
    write_job(tmp_path, "a", make_record("fp32", status="failed", reason="model.path=x missing"))
    write_job(tmp_path, "b", make_record("int8", status="failed", reason="model.path=x missing"))
    write_job(tmp_path, "c", make_record("int4", status="skipped", reason="no kernels"))
    (tmp_path / "recommended.yaml").write_text("# from an earlier summary\n")
    s = summarize(tmp_path)
    assert s.recommendations == []
    assert not (tmp_path / "recommended.yaml").exists()  # a stale recipe does not survive
    assert "no recommendation: the FP32 baseline job failed (model.path=x missing)" in s.text
    md = (tmp_path / "summary.md").read_text()
    assert "no recommendation: the FP32 baseline job failed" in md


def test_a_group_whose_jobs_all_failed_or_skipped_gets_no_recommendation(tmp_path):
    write_job(tmp_path, "a", make_record("int8", status="failed", reason="boom"))
    write_job(tmp_path, "b", make_record("int4", status="skipped", reason="no kernels"))
    s = summarize(tmp_path)
    assert s.recommendations == [] and not (tmp_path / "recommended.yaml").exists()
    assert "no job of this group ran to the end (1 failed, 1 skipped)" in " ".join(s.text.split())


def test_the_header_says_how_many_validation_samples_the_verdicts_rest_on(tmp_path):
    splits = {"train": 270, "calibration": 45, "validation": 135}
    write_job(tmp_path, "a", baseline_record(splits=splits))
    write_job(tmp_path, "b", make_record("int8", splits=splits))
    text = summarize(tmp_path, write=False).text
    assert "verdicts rest on 500 validation samples, the validation split (30% of" in text
    assert "calibration (45) and QAT training (270) splits are held apart" in text


def test_a_console_table_too_wide_says_which_columns_are_only_in_summary_md(sweep):
    s = summarize(sweep)
    lines = s.text.splitlines()
    assert max(map(len, lines)) <= WIDTH
    (note,) = [x for x in lines if x.startswith("(to fit 100 columns")]
    dropped = note.removeprefix("(to fit 100 columns, ").split(" only")[0].split(", ")
    console = next(x.split() for x in lines if "prec" in x and "verdict" in x)
    md = next(x for x in (sweep / "summary.md").read_text().splitlines() if x.startswith("| # |"))
    md_columns = [c.strip() for c in md.strip("|").split("|")]
    assert dropped and all(c in md_columns and c not in console for c in dropped)
    assert set(md_columns) == set(console) | set(dropped)


def test_recorded_warnings_reach_the_verdicts(tmp_path):
    write_job(tmp_path, "a", baseline_record())
    write_job(tmp_path, "b", make_record("int8", details={"warnings": ["calibrated on all 45"]}))
    assert "Warning: calibrated on all 45." in summarize(tmp_path, write=False).text


def _generation(ttft: float, tps: float) -> dict:
    return {"prompt_tokens": 128, "new_tokens": 64, "ttft_ms": ttft, "decode_tokens_per_s": tps}


def test_language_model_rows_show_time_to_first_token_and_decode_tokens_per_s(tmp_path):
    root = tmp_path / "lm"
    lm = {"task": "language_modeling", "name": "perplexity", "higher_is_better": False}
    gen = {"baseline_generation": _generation(221.0, 25.6)}
    write_job(root, "0_fp32", baseline_record(**lm, **gen, generation=_generation(219.0, 25.0)))
    write_job(
        root,
        "1_int8",
        make_record(
            "int8", drop=0.004, p50=0.018, **lm, **gen, generation=_generation(153.0, 55.4)
        ),
    )
    s = summarize(root, write=True)
    df = s.table.set_index("precision")
    assert df.loc["int8", "ttft_ms"] == 153.0 and df.loc["int8", "decode_tps"] == 55.4
    assert df.loc["fp32", "decode_tps"] == 25.6  # the baseline row: FP32's own figures
    md = (root / "summary.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| #"))
    assert "TTFTms" in head and "tok/s" in head
    assert "| 55.4 |" in md and "| 153 |" in md


def test_models_without_generation_figures_get_no_generation_columns(sweep):
    s = summarize(sweep, write=True)
    assert "tok/s" not in (sweep / "summary.md").read_text()
    assert s.table["decode_tps"].isna().all()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("speedup_ci", 5, "speedup_ci must be two numbers"),
        ("speedup_ci", ["a", 2.0], "speedup_ci must be two numbers"),
        ("generation", {"speedup_decode_ci": [1.0]}, "generation.speedup_decode_ci must be two"),
        ("generation", {"speedup_decode": "fast"}, "generation.speedup_decode must be a number"),
        ("baseline_latency", {"p50_ms": "x"}, "baseline_latency.p50_ms must be a number"),
    ],
)
def test_a_malformed_speed_field_makes_the_record_unreadable_not_a_crash(
    tmp_path, field, value, message
):
    write_job(tmp_path, "a", baseline_record())
    rec = make_record()
    rec[field] = value
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "result.json").write_text(json.dumps(rec))
    s = summarize(tmp_path, write=False)
    assert len(s.table) == 1 and message in s.garbage[0][1]
