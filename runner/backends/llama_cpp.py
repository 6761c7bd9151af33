"""llama.cpp as a runtime for language models: `method.backend=llama_cpp`.

The job's FP32 weights are written to an F32 GGUF (runner.backends.gguf_export, once per model
in cache_dir/models), quantized by llama.cpp's own quantizer (`llama_model_quantize`) to the
GGUF type `precision.gguf_type` (null: F32 / F16 / Q8_0 / Q4_K_M for fp32 / fp16 / int8 / int4),
and run by llama.cpp behind the KV-cache graph's names (runner.backends.llama_runtime), so the
job scores it on the same perplexity windows and times it with the same prefill / decode
protocol as the ONNX Runtime graphs, interleaved with the ONNX FP32 baseline. The record says
which type each tensor really got (`details.gguf_tensor_types`): llama.cpp falls back from a
K-quant to q5_0 / q5_1 / q8_0 for rows that are not a multiple of 256 wide (SmolLM2's 576).

Optional extra: `make llama` (llama-cpp-python, built for this CPU). Picked only by name.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from runner.backends import Job
from runner.core.registry import register

log = logging.getLogger(__name__)
DEFAULT_TYPES = {"fp32": "F32", "fp16": "F16", "int8": "Q8_0", "int4": "Q4_K_M"}
# llama.cpp's file types (LLAMA_FTYPE_*) this backend offers, by their usual names
GGUF_TYPES = {
    "F32": "ALL_F32",
    "F16": "MOSTLY_F16",
    "BF16": "MOSTLY_BF16",
    "Q8_0": "MOSTLY_Q8_0",
    "Q6_K": "MOSTLY_Q6_K",
    "Q5_0": "MOSTLY_Q5_0",
    "Q5_1": "MOSTLY_Q5_1",
    "Q5_K_M": "MOSTLY_Q5_K_M",
    "Q5_K_S": "MOSTLY_Q5_K_S",
    "Q4_0": "MOSTLY_Q4_0",
    "Q4_1": "MOSTLY_Q4_1",
    "Q4_K_M": "MOSTLY_Q4_K_M",
    "Q4_K_S": "MOSTLY_Q4_K_S",
    "Q3_K_M": "MOSTLY_Q3_K_M",
    "Q2_K": "MOSTLY_Q2_K",
}


def gguf_type(job: Job) -> str:
    """The GGUF type of the job: precision.gguf_type, else the precision's default."""
    name = job.cfg.precision.gguf_type or DEFAULT_TYPES[job.cfg.precision.name]
    if name.upper() not in GGUF_TYPES:
        raise ValueError(
            f"precision.gguf_type={name} is not a llama.cpp type offered here; use one of "
            f"{', '.join(GGUF_TYPES)}"
        )
    return name.upper()


def f32_gguf(job: Job) -> Path:
    """The job's FP32 model as an F32 GGUF, written once per model into cache_dir/models."""
    from runner.backends import gguf_export

    m = job.cfg.model
    path = Path(job.cfg.cache_dir) / "models" / f"{m.name}-f32-{job.model.fingerprint}.gguf"
    if path.is_file():
        log.info("llama_cpp: cache hit %s", path.name)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tokenizer = Path(job.model.onnx_path).parent / "tokenizer.json"  # saved with the export
    try:
        gguf_export.write(job.model.module, tokenizer, tmp, name=m.name)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def quantize_gguf(src: Path, dst: Path, kind: str, threads: int) -> Path:
    """llama.cpp's own quantizer: `src` (F32 GGUF) -> `dst` of type `kind`."""
    import llama_cpp

    if kind == "F32":  # the F32 file itself (a link, not a 500 MB copy, where possible)
        try:
            os.link(src, dst)
        except OSError:
            import shutil

            shutil.copyfile(src, dst)
        return dst
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_{GGUF_TYPES[kind]}")
    params.allow_requantize = True
    params.nthread = threads
    t0 = time.perf_counter()
    code = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if code != 0:
        raise RuntimeError(f"llama.cpp's quantizer returned {code} for {kind}")
    log.info("llama_cpp: %s written in %.0f s", dst.name, time.perf_counter() - t0)
    return dst


@register("backend", "llama_cpp")
class LlamaCpp:
    """A language model run by llama.cpp at a GGUF type (F32, F16, Q8_0, Q4_K_M, ...)."""

    precision = None
    precisions = tuple(DEFAULT_TYPES)
    method = "ptq"
    auto = False  # another runtime: only when asked for, method.backend=llama_cpp

    @staticmethod
    def check(job: Job) -> str | None:
        from runner.backends.gguf_export import unsupported
        from runner.backends.llama_runtime import available

        if job.cfg.model.task != "language_modeling":
            return "llama_cpp runs causal language models (model.task=language_modeling)"
        gguf_type(job)  # a bad precision.gguf_type is the user's to fix: a one-line error
        if why := available():
            return why
        config = getattr(job.model.module, "config", None)
        return "llama_cpp needs the transformers model" if config is None else unsupported(config)

    @staticmethod
    def quantize(job: Job) -> Path:
        import llama_cpp

        from runner.backends.gguf_export import stored_types
        from runner.backends.llama_runtime import LlamaCppSession

        kind, threads = gguf_type(job), job.cfg.target.threads
        out = quantize_gguf(f32_gguf(job), job.out_dir / f"model-{kind}.gguf", kind, threads)
        types, widths = stored_types(out)
        m = job.cfg.model
        job.session = LlamaCppSession(out, threads, max(m.window, m.prompt_tokens + m.new_tokens))
        total = sum(widths.values())
        low = sum(n for b, n in widths.items() if b <= job.cfg.precision.bits)
        job.details.update(
            runtime=f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
            gguf_type=kind,
            gguf_tensor_types=types,  # what llama.cpp really wrote, tensors per type
            gguf_weight_bits={str(b): n for b, n in sorted(widths.items())},
            quantized_fraction=low / total if total else None,
        )
        return out
