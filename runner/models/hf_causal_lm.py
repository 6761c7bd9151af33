"""A causal language model (a decoder such as Llama, Qwen2 or GPT-2), measured as it is deployed.

`model.path` is a local `save_pretrained` folder, a `.gguf` file (dequantized to FP32 by
transformers), or a hub id, fetched only where the hub is reachable. The model is loaded in
FP32 with transformers and exported once with its KV cache (optimum-onnx,
`text-generation-with-past`, runner.core.lm_graph.export_kv) into
`cache_dir/models/<name>-kv-<key>/`;
that graph is the FP32 baseline, scored and timed.

The pieces, in the order `load` uses them (model=smollm2 uses the same ones on its GGUF):
`resolve` (model.path -> a Source), `check` (is it a causal LM transformers can load: cheap,
no weights read), `load_lm` (the FP32 module and its tokenizer), `export_cached` (the KV
graph, exported once per weights), `encoder` (text splits -> token windows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.core.config import Config, ModelConfig
from runner.core.gate import hf_folder
from runner.core.registry import register
from runner.core.safe_io import safe_name
from runner.datasets import Splits
from runner.models import LoadedModel, file_sha256, first_line

log = logging.getLogger(__name__)
WHAT = "a save_pretrained folder of a causal language model, or a .gguf file"
MARKER = "kv.json"  # written last into an export folder: the folder is complete
# a hub id: NAME or OWNER/NAME (anything else that does not exist is a missing local path)
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
# GGUF architectures transformers reads that are not decoder-only language models
GGUF_NOT_CAUSAL = {"general", "tokenizer", "t5", "umt5"}
# llama.cpp's names for architectures that transformers lists under another name
GGUF_RENAMED = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe"}


@dataclass(frozen=True)
class Source:
    """Where the weights are: a save_pretrained folder, or a GGUF file."""

    path: Path
    gguf: bool
    trust_remote_code: bool = False  # model.trust_remote_code, from the receiver's command line

    def weight_files(self) -> list[Path]:
        """The files the model's numbers come from (config and weights), in a fixed order."""
        if self.gguf:
            return [self.path]
        files = [self.path / "config.json"]
        for pattern in ("*.safetensors", "*.bin"):
            files += sorted(self.path.glob(pattern))
        return files

    def pretrained(self) -> dict[str, Any]:
        """from_pretrained's arguments for this source (trust_remote_code always explicit:
        transformers otherwise asks y/N on the terminal, and `yes |` would run the code)."""
        trust = {"trust_remote_code": self.trust_remote_code and not self.gguf}
        if self.gguf:
            return {"pretrained_model_name_or_path": str(self.path.parent),
                    "gguf_file": self.path.name, **trust}  # fmt: skip
        return {"pretrained_model_name_or_path": str(self.path), **trust}


def offline() -> bool:
    """Whether the user asked the Hugging Face libraries not to touch the network."""
    flags = [os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")]
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def _local(path: str) -> Source | None:
    """The local folder or GGUF file `path` names, None when nothing exists there."""
    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ValueError(
                f"model.path={path} has no config.json; point model.path at {WHAT} "
                "(the folder that save_pretrained writes)"
            )
        return Source(p, gguf=False)
    if p.is_file():
        if p.suffix.lower() != ".gguf":
            raise ValueError(f"model.path={path} is a file but not a .gguf; point it at {WHAT}")
        return Source(p, gguf=True)
    if path.lower().endswith(".gguf") or not HUB_ID.fullmatch(path):
        raise ValueError(f"model.path={path} does not exist; point model.path at {WHAT}")
    return None


def _no_hub(path: str, why: str) -> ValueError:
    return ValueError(
        f"model.path={path} is not a local folder or .gguf file, and {why}: download it where "
        f"there is network (`hf download {path} --local-dir DIR`) and set model.path=DIR"
    )


def resolve(path: str | None) -> Source:
    """`model.path` as a Source: a local folder or GGUF file, or a hub id downloaded when the
    hub may be used (one-line ValueError otherwise)."""
    if not path:
        raise ValueError(f"model.path is not set; point model.path at {WHAT}")
    local = _local(path)
    if local is not None:
        return local
    if offline():
        raise _no_hub(path, "the hub is off (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set)")
    try:
        from huggingface_hub import snapshot_download

        log.info("model: downloading %s from the hub", path)
        # config, weights and tokenizer; not the other formats some repos carry beside them
        folder = snapshot_download(path, ignore_patterns=["*.gguf", "*.onnx", "*.h5", "*.msgpack"])
    except Exception as exc:  # noqa: BLE001 - no network, unknown id, gated model
        raise _no_hub(path, f"it could not be fetched ({type(exc).__name__})") from None
    return Source(Path(folder), gguf=False)


def _causal_classes() -> tuple[dict[str, Any], set[str]]:
    """transformers' causal-LM model types, and the class names they map to."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    names = set()
    for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        names.update((v,) if isinstance(v, str) else v)
    return MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, names


def check_config(config: Any, where: str) -> None:
    """A one-line ValueError unless `config` describes a decoder-only causal LM."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    types, classes = _causal_classes()
    archs = list(getattr(config, "architectures", None) or [])
    kind = getattr(config, "model_type", "?")
    ok = any(a in classes for a in archs) if archs else kind in types
    encoder = kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False)
    if not ok or encoder or getattr(config, "is_encoder_decoder", False):
        named = ", ".join(archs) if archs else "no architectures listed"
        raise ValueError(
            f"model.path={where} holds a {kind} model ({named}), not a causal language model; "
            "model=hf_causal_lm needs a decoder such as Llama, Qwen2, Mistral or GPT-2 "
            "(for a sentence encoder use model=hf)"
        )


def gguf_architecture(path: Path) -> str:
    """`general.architecture` of a GGUF file, read with the gguf package (metadata only)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(path).fields.get("general.architecture")
        arch = field.contents() if field is not None else None
    except Exception as exc:  # noqa: BLE001 - bad magic, truncated file, I/O errors alike
        raise ValueError(
            f"model.path={path} is not a readable GGUF file ({first_line(exc, 120)}); "
            f"point model.path at {WHAT}"
        ) from None
    if not isinstance(arch, str) or not arch:
        raise ValueError(
            f"model.path={path} has no general.architecture in its GGUF metadata; "
            f"point model.path at {WHAT}"
        )
    return arch


def gguf_supported() -> list[str]:
    """The GGUF architectures that transformers loads as a causal LM."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return [a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in GGUF_NOT_CAUSAL]


_CHECKED: set[tuple[str, int, int, bool]] = set()  # sources already checked in this process


def check(src: Source) -> None:
    """Whether transformers can load the source as a causal LM: metadata only, no weights
    read; a one-line ValueError naming the problem and the fix otherwise."""
    stat = src.path.stat()
    seen = (str(src.path.resolve()), stat.st_mtime_ns, stat.st_size, src.trust_remote_code)
    if seen in _CHECKED:  # precheck, then the loader: a GGUF's metadata is read once
        return
    _check(src)
    _CHECKED.add(seen)


def _check(src: Source) -> None:
    if src.gguf:
        arch = gguf_architecture(src.path)
        supported = gguf_supported()
        if arch not in supported and GGUF_RENAMED.get(arch) not in supported:
            import transformers

            raise ValueError(
                f"model.path={src.path} is a GGUF of architecture {arch!r}, which transformers "
                f"{transformers.__version__} cannot load as a causal LM (it loads "
                f"{', '.join(supported)}); use a GGUF of one of those, or a save_pretrained folder"
            )
        return
    from transformers import AutoConfig

    hf_folder(src.path, src.trust_remote_code)  # custom code (auto_map): opt-in only
    try:
        config = AutoConfig.from_pretrained(src.path, trust_remote_code=src.trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - bad JSON, unknown model_type, ...
        raise ValueError(
            f"model.path={src.path}: its config.json cannot be read ({first_line(exc, 120)}); "
            f"point model.path at {WHAT}"
        ) from None
    check_config(config, str(src.path))


def _check_hub_config(path: str, trust_remote_code: bool = False) -> None:
    """A hub id: fetch config.json alone and check it before the weights are downloaded."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001
        raise _no_hub(path, f"its config could not be fetched ({type(exc).__name__})") from None
    check_config(config, path)


@register("model_check", "hf_causal_lm")
def precheck(cfg: Config) -> None:
    """model.path names a causal LM that transformers can load; nothing heavy is read."""
    m = cfg.model
    if m.task != "language_modeling":
        raise ValueError(f"model=hf_causal_lm supports model.task=language_modeling; got {m.task}")
    if not m.path:
        raise ValueError(f"model.path is not set; point model.path at {WHAT}")
    local = _local(m.path)
    if local is not None:
        check(dataclasses.replace(local, trust_remote_code=m.trust_remote_code))
    elif offline():
        raise _no_hub(m.path, "the hub is off (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set)")
    else:
        _check_hub_config(m.path, m.trust_remote_code)


def load_lm(src: Source) -> tuple[Any, Any]:
    """(the transformers causal LM in FP32, eval mode; its tokenizer). A GGUF is dequantized."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runner.core.console import quiet_bars, route_library_output

    route_library_output()  # transformers' notices: the job's log, not the console
    quiet_bars("transformers.modeling_gguf_pytorch_utils")  # its own GGUF dequantization bar

    what = "GGUF, dequantizing to FP32" if src.gguf else "save_pretrained folder, FP32"
    log.info("model: loading %s (%s)", src.path, what)
    t0 = time.perf_counter()
    try:
        tok = AutoTokenizer.from_pretrained(**src.pretrained())
        lm = AutoModelForCausalLM.from_pretrained(**src.pretrained(), dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - corrupt weights, missing tokenizer, ...
        raise ValueError(
            f"model.path={src.path} could not be loaded by transformers "
            f"({type(exc).__name__}: {first_line(exc, 150)}); point model.path at {WHAT}"
        ) from None
    params = sum(p.numel() for p in lm.parameters())
    log.info(
        "model: %s, %.1f M weights, loaded in %.0f s",
        type(lm).__name__,
        params / 1e6,
        time.perf_counter() - t0,
    )
    return lm.eval(), tok


def weights_key(src: Source) -> str:
    """Content hash of the weights (and config), and of the libraries the export depends on."""
    import importlib.metadata as md

    h = hashlib.sha256()
    for f in src.weight_files():
        h.update(f"{f.name}:{file_sha256(f)}\n".encode())
    for pkg in ("torch", "transformers", "optimum-onnx"):
        try:
            h.update(f"{pkg}={md.version(pkg)}\n".encode())
        except md.PackageNotFoundError:
            h.update(f"{pkg}=none\n".encode())
    return h.hexdigest()[:16]


def _valid(folder: Path, key: str) -> bool:
    """An export folder that a finished export wrote for these weights."""
    try:
        info = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return info.get("key") == key and (folder / "model.onnx").is_file()


def _publish(new: Path, dst: Path, key: str) -> None:
    """Rename a finished export into place; a valid folder already there wins (another job
    finished first), an invalid one is replaced."""
    for _ in range(3):
        try:
            os.rename(new, dst)
            return
        except OSError:
            if _valid(dst, key):
                log.info("export: another job wrote %s first; using it", dst.name)
                return
            stale = dst.with_name(f".{dst.name}.stale{os.getpid()}")
            try:
                os.rename(dst, stale)
            except OSError:
                continue  # it vanished meanwhile (another job replaced it): try again
            shutil.rmtree(stale, ignore_errors=True)
    raise OSError(f"could not move the export into {dst}")


def export_cached(lm: Any, tok: Any, name: str, key: str, cache_dir: Path) -> Path:
    """The KV-cache graph of `lm` (model.onnx), exported once per weights key.

    The module is saved (FP32) and exported into a temporary folder beside the destination,
    then renamed into `cache_dir/models/<name>-kv-<key>/`, so jobs running side by side
    never see half a folder.
    """
    from runner.core.lm_graph import export_kv

    dst = Path(cache_dir) / "models" / f"{safe_name(name)}-kv-{key}"  # a name is never a path
    if _valid(dst, key):
        log.info("export: cache hit %s", dst.name)
        return dst / "model.onnx"
    log.info("export: %s with a KV cache into %s (first use only)", name, dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        fp32 = tmp / "fp32"
        t0 = time.perf_counter()
        lm.save_pretrained(fp32)
        tok.save_pretrained(fp32)
        log.info("export: FP32 weights saved in %.0f s", time.perf_counter() - t0)
        out = tmp / "kv"
        export_kv(fp32, out)
        shutil.rmtree(fp32, ignore_errors=True)
        info = {"key": key, "name": name, "model": type(lm).__name__, "time": time.time()}
        (out / MARKER).write_text(json.dumps(info, indent=1))
        _publish(out, dst, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst / "model.onnx"


def blocks(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive windows that do not overlap (calibration and training text) and their
    all-ones masks; a last partial window is dropped, so no row carries padding."""
    width = min(window, len(ids))
    if width < 2:
        raise ValueError(f"a text split has {len(ids)} tokens; it needs at least 2")
    rows = len(ids) // width
    x = np.ascontiguousarray(ids[: rows * width].reshape(rows, width), dtype=np.int64)
    return x, np.ones((rows, width - 1), np.int64)


def encoder(tok: Any, cfg: ModelConfig) -> Any:
    """Splits -> Splits: each split's text joined with blank lines and tokenized.

    Validation: `runner.core.lm_graph.windows` over its first `eval_tokens` tokens (every one
    after the first scored exactly once; y_val is the mask). Calibration and training: up to
    `calib_tokens` tokens in windows of `window` tokens that do not overlap.
    """
    from runner.core.lm_graph import windows

    def ids_of(texts: Any) -> np.ndarray:
        text = "\n\n".join(str(t) for t in texts)
        return np.asarray(tok(text, verbose=False)["input_ids"], dtype=np.int64)

    def encode(s: Splits) -> Splits:
        val = ids_of(s.x_val)
        if len(val) < cfg.eval_tokens:
            log.warning(
                "data: the validation text has %d tokens, fewer than model.eval_tokens=%d; "
                "scoring all of them",
                len(val),
                cfg.eval_tokens,
            )
        xv, mv = windows(val[: cfg.eval_tokens], cfg.window, cfg.stride)
        xc, _ = blocks(ids_of(s.x_calib)[: cfg.calib_tokens], cfg.window)
        xt, mt = blocks(ids_of(s.x_train)[: cfg.calib_tokens], cfg.window)
        return dataclasses.replace(
            s,
            x_train={"input_ids": xt},
            y_train=mt,
            x_calib={"input_ids": xc},
            x_val={"input_ids": xv},
            y_val=mv,
        )

    return encode


def fingerprint(key: str, cfg: ModelConfig) -> str:
    """The weights' key and the settings that decide which tokens are scored."""
    spec = f"{key}/{cfg.window}/{cfg.stride}/{cfg.eval_tokens}/{cfg.calib_tokens}"
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def load_source(src: Source, cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """The FP32 causal LM of `src` and its KV-cache graph, as the baseline (shared by
    model=hf_causal_lm and model=smollm2)."""
    import torch

    check(src)
    log.info("model: hashing %s", src.path.name)
    key = weights_key(src)
    lm, tok = load_lm(src)
    onnx_path = export_cached(lm, tok, cfg.name, key, cache_dir)
    encode = encoder(tok, cfg)
    x = encode(splits).x_val["input_ids"]
    # two rows where there are two: torch.export would specialize a batch of 1 into a constant
    example = {"input_ids": torch.as_tensor(x[:2, : min(64, x.shape[1])])}
    return LoadedModel(
        module=lm,
        example_input=example,
        fingerprint=fingerprint(key, cfg),
        onnx_path=str(onnx_path),
        encode=encode,
    )


@register("model", "hf_causal_lm")
def load(cfg: ModelConfig, splits: Splits, cache_dir: Path) -> LoadedModel:
    """A causal LM from model.path (folder, GGUF or hub id) as the FP32 baseline."""
    if cfg.task != "language_modeling":
        raise ValueError(
            f"model=hf_causal_lm supports model.task=language_modeling; got {cfg.task}"
        )
    src = dataclasses.replace(resolve(cfg.path), trust_remote_code=cfg.trust_remote_code)
    return load_source(src, cfg, splits, cache_dir)
