"""A text corpus as samples: paragraphs of a text file, or of real English text that ships
with Python itself (`pydoc_data.topics`, the interactive help's reference pages) by default.

Samples are raw strings; the model's own tokenizer turns them into inputs (LoadedModel.encode).
What is assigned to train / calibration / validation is `dataset.unit`:
- paragraph: single paragraphs, shuffled (embedding models compare sentences one by one);
- document: whole documents, each split keeping corpus order, so that a language model reads
  contiguous text (shuffled paragraphs raise perplexity and make a long window useless); the
  documents are assigned by size, so each split holds its fraction of the text (by count, a
  split of short documents left GPTQ a third of the calibration tokens it asked for); the
  validation documents are read in pieces taken in turn (every document's first piece, then
  every second piece, ...), so that the first tokens a language model scores come from many
  documents, not the first two (`spread`);
- auto (default): document when model.task is language_modeling, else paragraph.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from runner.core.config import Config, DatasetConfig
from runner.core.registry import register
from runner.datasets import Splits, empty_split, split_indices

log = logging.getLogger(__name__)
UNITS = ("auto", "paragraph", "document")
MIN_DOCUMENTS = 10  # fewer documents than this: the text is cut into RUNS runs of paragraphs
RUNS = 20
PIECE_CHARS = 1000  # validation documents are spread in pieces of about this many characters
# documents of a user's file: parted by two or more blank lines, or by a form feed
DOCUMENT_BREAK = re.compile(r"\f|\n[ \t]*\n[ \t]*\n")


def paragraphs(text: str, min_words: int) -> list[str]:
    """Blank-line separated paragraphs with at least `min_words` words, whitespace squeezed."""
    out = [" ".join(p.split()) for p in text.split("\n\n")]
    return [p for p in out if len(p.split()) >= min_words]


def default_documents() -> list[str]:
    """The Python documentation's topic pages, bundled with every CPython: one per topic."""
    from pydoc_data.topics import topics

    return [topics[k] for k in sorted(topics)]


def default_text() -> str:
    """The topic pages as one text."""
    return "\n\n".join(default_documents())


def _read(cfg: DatasetConfig) -> str | None:
    """The user's text file, or None for the default corpus."""
    if not cfg.path:
        return None
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise ValueError(f"dataset.path={cfg.path} does not exist; point it at a text file")
    return path.read_text(errors="replace")


def _too_few(n: int, min_words: int) -> ValueError:
    return ValueError(
        f"the text corpus has {n} paragraphs of {min_words}+ words; it needs "
        "at least 10 (blank lines separate paragraphs); use a longer file"
    )


def _paragraph_splits(text: str, cfg: DatasetConfig) -> Splits:
    samples = paragraphs(text, cfg.min_words)
    if cfg.max_samples:
        samples = samples[: cfg.max_samples]
    if len(samples) < 10:
        raise _too_few(len(samples), cfg.min_words)
    x = np.array(samples, dtype=object)
    tr, ca, va = split_indices(len(x), cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    zeros = np.zeros(len(x), dtype=np.int64)
    return Splits(x[tr], zeros[tr], x[ca], x[va], zeros[va], num_classes=0)


def documents(text: str | None, cfg: DatasetConfig) -> list[list[str]]:
    """The corpus as documents (lists of paragraphs), in corpus order.

    The first `max_samples` paragraphs are kept (the last document kept may be cut short);
    fewer than MIN_DOCUMENTS documents are replaced by RUNS consecutive runs of paragraphs.
    """
    parts = default_documents() if text is None else DOCUMENT_BREAK.split(text)
    docs = [p for p in (paragraphs(part, cfg.min_words) for part in parts) if p]
    if cfg.max_samples:
        kept, room = [], cfg.max_samples
        for doc in docs:
            if room <= 0:
                break
            kept.append(doc[:room])
            room -= len(kept[-1])
        docs = kept
    flat = [p for doc in docs for p in doc]
    if len(flat) < 10:
        raise _too_few(len(flat), cfg.min_words)
    if len(docs) < MIN_DOCUMENTS:
        log.info(
            "data: %d document(s) (parted by two blank lines or a form feed); cutting the "
            "%d paragraphs into %d consecutive runs instead",
            len(docs),
            len(flat),
            RUNS,
        )
        docs = [list(run) for run in np.array_split(np.array(flat, dtype=object), RUNS)]
        docs = [d for d in docs if d]
    return docs


def split_by_size(
    sizes: list[int] | np.ndarray, train: float, calib: float, seed: int
) -> tuple[np.ndarray, ...]:
    """Disjoint train / calibration / validation index sets of documents whose sizes are
    `sizes`, assigned by size, not count: largest first (equal sizes in an order shuffled with
    a fixed seed), each document goes to the split furthest below its fraction of the text, so
    each split ends within about one document of its share, whatever the mix of sizes."""
    split_indices(0, train, calib, seed)  # the fractions' own check and message
    sizes = np.asarray(sizes, dtype=np.float64)
    shuffled = np.random.default_rng(seed).permutation(len(sizes))
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    target = np.array([train, calib, 1.0 - train - calib]) * sizes.sum()
    filled, parts = np.zeros(3), [[], [], []]
    for i in order:
        k = int(np.argmax(target - filled))
        parts[k].append(i)
        filled[k] += sizes[i]
    return tuple(np.array(sorted(p), dtype=np.int64) for p in parts)


def pieces(doc: list[str], size: int) -> list[list[str]]:
    """A document cut into consecutive pieces of whole paragraphs, each of at least `size`
    characters (the last may be shorter)."""
    out, now = [[]], 0
    for p in doc:
        if now >= size:
            out.append([])
            now = 0
        out[-1].append(p)
        now += len(p)
    return [piece for piece in out if piece]


def spread(docs: list[list[str]], size: int = PIECE_CHARS) -> list[str]:
    """The documents' paragraphs with every document's first piece first, then every second
    piece, and so on (each piece contiguous text of one document, in its order): the first
    tokens scored come from as many documents as there are."""
    cut = [pieces(doc, size) for doc in docs]
    turns = max((len(c) for c in cut), default=0)
    return [p for k in range(turns) for c in cut if k < len(c) for p in c[k]]


def _document_splits(text: str | None, cfg: DatasetConfig) -> Splits:
    docs = documents(text, cfg)
    sizes = [sum(len(p) for p in doc) for doc in docs]
    idx = split_by_size(sizes, cfg.train_fraction, cfg.calib_fraction, cfg.seed)
    tr, ca = (
        np.array([p for i in sorted(part) for p in docs[i]], dtype=object) for part in idx[:2]
    )
    va = np.array(spread([docs[i] for i in sorted(idx[2])]), dtype=object)
    if empty_split(cfg, tr, ca, va):
        raise ValueError(
            f"the text corpus has {len(docs)} documents: too few for non-empty train / "
            "calibration / validation splits; use a longer file or change "
            "dataset.train_fraction / calib_fraction"
        )
    log.info(
        "data: %d documents split whole by size: %d / %d / %d paragraphs, %d / %d / %d "
        "characters (train / calibration / validation), in corpus order (validation: in "
        "pieces of ~%d characters taken from each document in turn)",
        len(docs),
        len(tr),
        len(ca),
        len(va),
        *(sum(sizes[i] for i in part) for part in idx),
        PIECE_CHARS,
    )
    zeros = np.zeros(len(va), dtype=np.int64)
    return Splits(tr, np.zeros(len(tr), np.int64), ca, va, zeros, num_classes=0)


def unit_for(unit: str, task: str) -> str:
    """dataset.unit with `auto` settled by the model's task."""
    if unit not in UNITS:
        raise ValueError(f"dataset.unit={unit} is unknown; use one of {', '.join(UNITS)}")
    if unit == "auto":
        return "document" if task == "language_modeling" else "paragraph"
    return unit


@register("dataset_check", "text_corpus")
def precheck(cfg: Config) -> None:
    """The file exists; `dataset.unit=auto` becomes document for a language model (its
    evaluation text is contiguous), paragraph otherwise."""
    data = cfg.dataset
    unit = unit_for(data.unit, cfg.model.task)
    if unit != data.unit:
        log.info(
            "data: dataset.unit=%s for model.task=%s (set it to override)", unit, cfg.model.task
        )
        data.unit = unit
    if data.path and not Path(data.path).expanduser().is_file():
        raise ValueError(f"dataset.path={data.path} does not exist; point it at a text file")


@register("dataset", "text_corpus")
def load(cfg: DatasetConfig) -> Splits:
    """Paragraph samples split into train / calibration / validation; labels are unused.

    `dataset.unit` still `auto` here (no model seen: the pipeline's precheck settles it)
    means paragraph.
    """
    text = _read(cfg)
    if unit_for(cfg.unit, "") == "document":
        return _document_splits(text, cfg)
    return _paragraph_splits(default_text() if text is None else text, cfg)
