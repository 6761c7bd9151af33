"""A text corpus as samples: paragraphs of a text file, or of real English text that ships
with Python itself (`pydoc_data.topics`, the interactive help's reference pages) by default.

Samples are raw strings; the model's own tokenizer turns them into inputs (LoadedModel.encode).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runner.datasets import Splits, split_indices
from runner.registry import register
from runner.schema import DatasetConfig


def paragraphs(text: str, min_words: int) -> list[str]:
    """Blank-line separated paragraphs with at least `min_words` words, whitespace squeezed."""
    out = [" ".join(p.split()) for p in text.split("\n\n")]
    return [p for p in out if len(p.split()) >= min_words]


def default_text() -> str:
    """The Python documentation's topic pages, bundled with every CPython."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


@register("dataset", "text_corpus")
def load(cfg: DatasetConfig) -> Splits:
    """Paragraph samples split into train / calibration / validation; labels are unused."""
    if cfg.path:
        path = Path(cfg.path).expanduser()
        if not path.is_file():
            raise ValueError(f"dataset.path={cfg.path} does not exist; point it at a text file")
        text = path.read_text(errors="replace")
    else:
        text = default_text()
    samples = paragraphs(text, cfg.min_words)
    if cfg.max_samples:
        samples = samples[: cfg.max_samples]
    if len(samples) < 10:
        raise ValueError(
            f"the text corpus has {len(samples)} paragraphs of {cfg.min_words}+ words; it needs "
            "at least 10 (blank lines separate paragraphs); use a longer file"
        )
    x = np.array(samples, dtype=object)
    tr, ca, va = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    zeros = np.zeros(len(x), dtype=np.int64)
    return Splits(x[tr], zeros[tr], x[ca], x[va], zeros[va], num_classes=0)
