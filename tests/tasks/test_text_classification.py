"""Text classification: a tiny BERT sentiment model trained here, saved with save_pretrained,
swept at FP32 and INT8 from a jsonl file; accuracy with Tango's interval, macro-F1 beside it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runner.tasks.text_classification import macro_f1
from tests.conftest import assert_valid_record

GOOD = ["good", "great", "love", "excellent", "wonderful", "fine"]
BAD = ["bad", "awful", "hate", "terrible", "poor", "boring"]
FILLER = ["the", "film", "was", "and", "plot", "actors", "it", "story", "very", "a"]


def sentences(n: int, seed: int) -> list[tuple[str, str]]:
    """Short reviews: filler words and one or two words of the review's sentiment."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = list(rng.choice(FILLER, 5)) + list(rng.choice(GOOD if i % 2 else BAD, 2))
        rng.shuffle(words)
        out.append((" ".join(words), label))
    return out


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    """(model folder, jsonl file): a 2-layer BERT trained to tell the sentiment words apart.
    Its classes are named in the opposite of sorted order (0 positive, 1 negative): mapping
    the data's labels by sorted name instead of by the model's label2id would score ~0."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    root = tmp_path_factory.mktemp("sentiment")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *GOOD, *BAD, *FILLER]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(str(root / "vocab.txt"))
    cfg = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, num_labels=2,
        id2label={0: "positive", 1: "negative"}, label2id={"positive": 0, "negative": 1},
    )  # fmt: skip
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    data = sentences(240, seed=0)
    enc = tok([t for t, _ in data], padding="max_length", max_length=16, return_tensors="pt")
    y = torch.tensor([cfg.label2id[lab] for _, lab in data])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(15):
        for i in range(0, len(y), 32):
            part = {k: enc[k][i : i + 32] for k in ("input_ids", "attention_mask")}
            out = model(**part, labels=y[i : i + 32])
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    model.eval()
    folder = root / "model"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    file = root / "reviews.jsonl"
    rows = sentences(400, seed=1)
    file.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    return folder, file


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    pred[:5] = 9  # a class the labels never have
    assert macro_f1(pred, y) == pytest.approx(f1_score(y, pred, average="macro"))


def test_labels_named_by_the_data_but_not_the_model_are_refused(sentiment, tmp_path):
    from runner.job import pipeline
    from tests.conftest import typed

    folder, _ = sentiment
    bad = tmp_path / "bad.jsonl"
    bad.write_text((json.dumps({"text": "good film", "label": "meh"}) + "\n") * 30)
    cfg = typed("model=hf_classifier", f"model.path={folder}", f"dataset.path={bad}")
    with pytest.raises(ValueError, match=r"labels \['meh'\] are not classes of the model"):
        pipeline.load(cfg)


@pytest.mark.slow
def test_a_text_classification_sweep_runs_end_to_end(run_job, sentiment, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from runner.core.registry import get
    from tests.conftest import typed

    folder, file = sentiment
    args = ["model=hf_classifier", f"model.path={folder}", f"dataset.path={file}"]
    recs = {p: run_job(*args, f"precision={p}", job_dir=tmp_path / p) for p in ("fp32", "int8")}
    for rec in recs.values():
        assert rec["status"] == "ok", rec["reason"]
        assert_valid_record(rec)
    assert recs["int8"]["axes"]["backend"] == "ort_dynamic_int8"
    # independently: the torch model on the validation texts, labels by the model's names
    splits = get("dataset", "jsonl")(typed(*args).dataset)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    enc = tok(list(splits.x_val), padding="max_length", max_length=64, return_tensors="pt")
    pred = model(**{k: enc[k] for k in ("input_ids", "attention_mask")}).logits.argmax(1).numpy()
    y = np.array([model.config.label2id[splits.classes[i]] for i in splits.y_val])
    m = recs["fp32"]["metric"]
    assert m["baseline"] == pytest.approx(np.mean(pred == y)) and m["baseline"] >= 0.9
    assert m["extra"]["macro_f1"]["baseline"] == pytest.approx(macro_f1(pred, y))
    q = recs["int8"]["metric"]
    assert q["n_samples"] == len(y) and q["ci95"][0] <= q["delta_abs"] <= q["ci95"][1]
