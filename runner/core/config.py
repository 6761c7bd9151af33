"""Typed configuration: one dataclass per Hydra config group, validated before any job runs.

YAML files under conf/ only pick options and values; the types and the allowed keys live here,
so a misspelt key or a badly typed value fails at composition time with Hydra's own message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import UnionType
from typing import Any

from omegaconf import MISSING


@dataclass
class ModelConfig:
    """Where the FP32 model comes from and how the embedded one is trained."""

    name: str = MISSING
    # classification | regression | embedding | language_modeling, or a registered task
    # (runner/tasks: detection, text_classification)
    task: str = "classification"
    channels: int = 64  # width of the embedded models (conv channels, MLP hidden units)
    train_epochs: int = 12
    train_lr: float = 2e-3
    train_batch: int = 32
    seed: int = 0
    path: str | None = None  # onnx_file / torch_file: the model file
    arch: str | None = None  # torch_file with a state_dict: a registered architecture
    # torch_file: allow a full pickle or a TorchScript file (both can run code when loaded)
    trust_pickle: bool = False
    # hf / hf_causal_lm: allow Python code shipped in the model folder (config.json or
    # tokenizer_config.json `auto_map`); refused unless set on the receiver's command line
    trust_remote_code: bool = False
    # Backends to try first for this model when several implement a precision x method
    # (dynamic INT8 suits transformers, static QDQ suits CNNs).
    prefer_backends: list[str] = field(default_factory=list)
    max_length: int = 32  # text models: tokens per sample (padded / truncated)
    window: int = 1024  # language models: tokens per perplexity window
    stride: int = 512  # language models: tokens each later window adds (and scores)
    eval_tokens: int = 2048  # language models: tokens of validation text scored
    # language models: tokens of calibration (and QAT training) text, in windows of `window`
    # tokens that do not overlap
    calib_tokens: int = 4096
    latency_tokens: int | None = None  # time inputs cut to this many tokens (long windows)
    # Language models are timed as they generate: prefill of prompt_tokens tokens of the
    # evaluation text (time to first token), then new_tokens greedy tokens through the KV cache.
    prompt_tokens: int = 128
    new_tokens: int = 64
    # Layers kept in float by the torch backends: substrings of module names (e.g. lm_head).
    keep_float: list[str] = field(default_factory=list)
    # INT4 weight-only (MatMulNBits): layers stored at 8 bits instead (substrings of ONNX node
    # names, e.g. lm_head): mixed precision for the layers INT4 hurts most.
    int8_layers: list[str] = field(default_factory=list)


@dataclass
class DatasetConfig:
    """The data splits: train (for QAT), calibration (for static PTQ) and validation."""

    name: str = MISSING
    train_fraction: float = 0.6
    calib_fraction: float = 0.1
    seed: int = 0
    path: str | None = None  # imagefolder / csv / jsonl: the folder or file
    task: str = "classification"  # csv / jsonl take it from model.task in their YAML
    # imagefolder: [height, width]; null: an ONNX model's input size, else the files' own
    image_size: list[int] | None = None
    # imagefolder: 1 channel (L) or 3 (RGB); null: what an ONNX model's input takes, else RGB
    grayscale: bool | None = None
    invert: bool = False  # imagefolder: pixel -> 255 - pixel (dark ink on light paper)
    scale: float = 255.0  # imagefolder: pixel / scale, then (x - mean) / std per channel
    mean: list[float] = field(default_factory=lambda: [0.0])
    std: list[float] = field(default_factory=lambda: [1.0])
    label_column: str = "label"  # csv / jsonl
    feature_columns: list[str] | None = None  # csv / jsonl: null = every other column
    min_words: int = 6  # text_corpus: paragraphs shorter than this are dropped
    max_samples: int | None = None  # text_corpus: at most this many paragraphs; coco: images
    # The first validation rows (a language model's: windows) set apart for selection
    # (runner.decide's sensitivity ranking and keep-float search): a job is judged on the rows
    # after them, so what was chosen on some data is judged on other data. 0: every row.
    selection_rows: int = 0
    annotations: str | None = None  # coco: the COCO JSON file of dataset.path's images
    text_column: str = "text"  # jsonl / csv with model.task=text_classification
    # text_corpus: what is assigned to a split: whole documents in corpus order (language
    # models: contiguous text) or single shuffled paragraphs; auto: document for
    # model.task=language_modeling, else paragraph
    unit: str = "auto"


@dataclass
class PrecisionConfig:
    """The numeric format the weights (and activations where applicable) are stored in."""

    name: str = MISSING
    bits: int = 32
    int4_block_size: int = 32
    # INT4 weight rounding: rtn (round to nearest), hqq (half-quadratic optimization of scales
    # and zero points, no data) or gptq (calibration-aware: rounding errors compensated using
    # the calibration split's activations).
    int4_algorithm: str = "rtn"
    gptq_tokens: int = 3072  # language models: calibration tokens for GPTQ's Hessians
    # MatMulNBits (weight-only INT4 / INT8): its compute type, 0 unset (float), 1 fp32, 2 fp16,
    # 3 bf16, 4 int8 (the fast VNNI/AMX/dot-product path); null: the target's quant setting.
    accuracy_level: int | None = None
    # Weight-only blocks without zero points (symmetric); null: the target's int4_symmetric
    # for INT4, symmetric for INT8. HQQ and GPTQ are always asymmetric.
    symmetric: bool | None = None
    # Asymmetric round-to-nearest blocks: "int" (MatMulNBits' integer zero points) or "float"
    # (a float minimum per block, llama.cpp's Q4_1 rule, run as symmetric MatMulNBits plus a
    # small offset MatMul: runner/backends/nbits.py); null: float for language models, else int.
    zero_point: str | None = None
    # method.backend=llama_cpp: the GGUF type llama.cpp quantizes to (F32, F16, Q8_0, Q4_0,
    # Q4_1, Q4_K_M, ...); null: F32 / F16 / Q8_0 / Q4_K_M for fp32 / fp16 / int8 / int4.
    gguf_type: str | None = None


@dataclass
class MethodConfig:
    """How the model reaches the precision: post-training (PTQ) or quantization-aware (QAT)."""

    name: str = MISSING
    backend: str = "auto"  # or a registered backend name, to force (or compare) one
    calibration_samples: int = 128
    per_channel: bool = True
    qat_epochs: int = 2
    qat_lr: float = 1e-4
    # torchao backends: run the quantized model under torch.compile (Inductor) instead of
    # eagerly; the first calls compile (slow once), the timing's warm-up absorbs them.
    compile: bool = False


@dataclass
class QuantSettings:
    """How a target's integer kernels want INT8/INT4 models: the backends read these.

    "auto" values are settled per host by the target (runner/targets), e.g. reduce_range on an
    x86 CPU without VNNI, whose u8 x s8 products saturate 16-bit intermediate sums.
    """

    activation_type: str = "uint8"  # uint8 | int8 (static INT8 activations)
    weight_type: str = "int8"  # int8 | uint8
    per_channel: bool | None = None  # null: method.per_channel decides
    reduce_range: str = "false"  # true | false | auto (7-bit weights against saturation)
    symmetric_activations: bool = False  # TensorRT wants symmetric (zero point 0) activations
    symmetric_weights: bool = True
    format: str = "qdq"  # qdq | qoperator (QLinearConv / QLinearMatMul)
    int4_symmetric: bool = False  # MatMulNBits: symmetric blocks (no zero points)
    # MatMulNBits compute type: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 (VNNI/AMX/dot-product)
    accuracy_level: int = 0


@dataclass
class TargetConfig:
    """A hardware target: runtime, how it is timed, how models are quantized for it, budgets."""

    name: str = MISSING
    arch: str = "x86_64"
    provider: str = "CPUExecutionProvider"  # the ONNX Runtime provider the target needs
    prefer_providers: list[str] = field(default_factory=list)  # tried first when present
    torch_device: str = "cpu"
    threads: int = 1
    batch: int = 1
    quant: QuantSettings = field(default_factory=QuantSettings)
    max_latency_ms: float | None = None
    max_memory_mb: float | None = None
    max_size_mb: float | None = None
    # Scale-out: what a job on this target asks its engine for (runner launchers merge these).
    ray: dict[str, Any] = field(default_factory=dict)  # e.g. {num_gpus: 1}
    slurm: dict[str, Any] = field(default_factory=dict)  # e.g. {partition: gpu, gres: gpu:1}


@dataclass
class TrackingConfig:
    """Experiment tracking: none, or Weights & Biases (offline unless logged in)."""

    name: str = "none"
    project: str = "quant-sweep"
    mode: str = "auto"
    verbose: bool = False  # show W&B's own console output (off: one warning line at most)
    timeout_s: float = 60.0  # the longest W&B may take to start before the job goes on


@dataclass
class LatencyConfig:
    """Latency protocol shared by baseline and candidate: warm-up, then runs or seconds."""

    warmup: int = 20
    min_runs: int = 50
    min_seconds: float = 2.0
    memory_probe: bool = True
    # Jobs side by side on one machine: auto | pinned (own cores) | serial (one timing at a
    # time) | off (recorded as contended). See runner/placement.py.
    isolation: str = "auto"
    lock_dir: str | None = None  # the machine's placement locks; null: the system temp dir
    session_runs: int = 5  # fresh session pairs timed; the speed interval comes from their spread


@dataclass
class SummaryConfig:
    """The decision rule: relative metric drops that still ship / deserve QAT, and the goal."""

    objective: str = "latency"  # latency | size | memory
    ship_below: float = 0.01
    qat_below: float = 0.03
    min_speedup: float = 1.05  # slower than this counts as "no gain"
    # Language models: which generation speed verdicts and fronts rank on: decode (tokens/s
    # through the KV cache) or prefill (time to first token). summary.md shows both.
    lm_speed: str = "decode"


@dataclass
class Config:
    """The whole job: one point of the model x dataset x precision x method x target grid."""

    model: ModelConfig = MISSING
    dataset: DatasetConfig = MISSING
    precision: PrecisionConfig = MISSING
    method: MethodConfig = MISSING
    target: TargetConfig = MISSING
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    cache_dir: str = "outputs/cache"
    seed: int = 0
    # Threads torch may use to train, fine-tune (QAT) and export. 1 by default: torch's OpenMP
    # workers spin-wait, and slow down many-fold when anything else shares the CPU.
    torch_threads: int = 1
    # Where a job's quantize/evaluate/measure steps run: "process" (a child process, so a
    # segfault or OOM kill in a native backend fails one job, not the sweep), "inline", or
    # "auto" (process inside a multirun, inline for a single run).
    isolation: str = "auto"
    timeout_s: float | None = None  # per job; needs isolation=process
    force: bool = False  # re-run jobs whose result.json already says ok for the same run_key
    # A recipe's expected results (metric, latency ratio, tolerance): data, never code.
    expected: dict[str, Any] = field(default_factory=dict)
    # Test hook: "raise", "segfault" or "hang" at the quantize step; "KIND@N" for job N only.
    fault: str | None = None


ISOLATION = ("auto", "process", "inline")
OBJECTIVES = ("latency", "size", "memory")
LM_SPEEDS = ("decode", "prefill")
INT4_ALGORITHMS = ("rtn", "hqq", "gptq", "k_quant")
ZERO_POINTS = ("int", "float")
FAULTS = ("raise", "segfault", "hang")
LATENCY_ISOLATION = ("auto", "pinned", "serial", "off")
INT_TYPES = ("uint8", "int8")
QUANT_FORMATS = ("qdq", "qoperator")
REDUCE_RANGE = ("true", "false", "auto")


def _target_problems(t: TargetConfig) -> list[str]:
    """The target's quantization settings and budgets that no backend can use."""
    q, out = t.quant, []
    for key, value, allowed in (
        ("activation_type", q.activation_type, INT_TYPES),
        ("weight_type", q.weight_type, INT_TYPES),
        ("format", q.format, QUANT_FORMATS),
        ("reduce_range", str(q.reduce_range).lower(), REDUCE_RANGE),
    ):
        if value not in allowed:
            out.append(f"target.quant.{key}={value} is unknown; use one of {', '.join(allowed)}")
    if not 0 <= q.accuracy_level <= 4:
        out.append(f"target.quant.accuracy_level={q.accuracy_level} must be 0 to 4 (4 = int8)")
    for key in ("max_latency_ms", "max_memory_mb", "max_size_mb"):
        v = getattr(t, key)
        if v is not None and v <= 0:
            out.append(f"target.{key}={v:g} must be positive, or null for no budget")
    return out


def problems(cfg: Config) -> list[str]:
    """Values the types allow but a run cannot use, each as 'field=value: fix'."""
    out = []
    positive = {
        "target.batch": cfg.target.batch,
        "target.threads": cfg.target.threads,
        "latency.min_runs": cfg.latency.min_runs,
        "torch_threads": cfg.torch_threads,
        "method.calibration_samples": cfg.method.calibration_samples,
        "method.qat_epochs": cfg.method.qat_epochs,
        "model.train_epochs": cfg.model.train_epochs,
    }
    out += [f"{k}={v} must be at least 1; set {k}=1 or more" for k, v in positive.items() if v < 1]
    if cfg.dataset.selection_rows < 0:
        out.append("dataset.selection_rows must not be negative; set 0 to judge on every row")
    if cfg.latency.warmup < 0 or cfg.latency.min_seconds < 0:
        out.append("latency.warmup and latency.min_seconds must not be negative")
    if cfg.latency.isolation not in LATENCY_ISOLATION:
        out.append(
            f"latency.isolation={cfg.latency.isolation} is unknown; use one of "
            f"{', '.join(LATENCY_ISOLATION)}"
        )
    if cfg.isolation not in ISOLATION:
        out.append(f"isolation={cfg.isolation} is unknown; use one of {', '.join(ISOLATION)}")
    if cfg.summary.objective not in OBJECTIVES:
        out.append(
            f"summary.objective={cfg.summary.objective} is unknown; use one of "
            f"{', '.join(OBJECTIVES)}"
        )
    if cfg.summary.lm_speed not in LM_SPEEDS:
        out.append(
            f"summary.lm_speed={cfg.summary.lm_speed} is unknown; use one of {', '.join(LM_SPEEDS)}"
        )
    p = cfg.precision
    if p.accuracy_level is not None and not 0 <= p.accuracy_level <= 4:
        out.append(f"precision.accuracy_level={p.accuracy_level} must be 0 to 4 (4 = int8)")
    if p.int4_algorithm not in INT4_ALGORITHMS:
        out.append(
            f"precision.int4_algorithm={p.int4_algorithm} is unknown; use one of "
            f"{', '.join(INT4_ALGORITHMS)}"
        )
    if p.zero_point is not None and p.zero_point not in ZERO_POINTS:
        out.append(
            f"precision.zero_point={p.zero_point} is unknown; use one of {', '.join(ZERO_POINTS)}"
        )
    if cfg.model.prompt_tokens < 1 or cfg.model.new_tokens < 1:
        out.append("model.prompt_tokens and model.new_tokens must be at least 1")
    elif cfg.model.task == "language_modeling" and cfg.model.prompt_tokens >= cfg.model.window:
        out.append(
            f"model.prompt_tokens={cfg.model.prompt_tokens} must be below model.window="
            f"{cfg.model.window} (the prompt is cut from the first evaluation window); lower it"
        )
    if cfg.latency.session_runs < 2:
        out.append(
            f"latency.session_runs={cfg.latency.session_runs} must be at least 2 (the speed "
            "interval needs two runs); set latency.session_runs=2 or more"
        )
    if cfg.timeout_s is not None and cfg.timeout_s <= 0:
        out.append(f"timeout_s={cfg.timeout_s} must be positive, or null for no limit")
    if cfg.fault is not None and cfg.fault.split("@")[0] not in FAULTS:
        out.append(f"fault={cfg.fault} is unknown; use one of {', '.join(FAULTS)} (optionally @N)")
    return out + _target_problems(cfg.target)


def _known(key: str) -> bool:
    """Whether a dotted key names a setting of the typed config (free-form dicts accept any)."""
    import dataclasses
    import typing

    node: Any = Config
    for part in key.split("."):
        if not dataclasses.is_dataclass(node):
            return typing.get_origin(node) is dict  # e.g. expected.<anything>
        hints = typing.get_type_hints(node)
        if part not in hints:
            return False
        node = hints[part]
        args = [a for a in typing.get_args(node) if a is not type(None)]
        node = args[0] if typing.get_origin(node) in (typing.Union, UnionType) and args else node
    return True


def unknown_additions(argv: list[str]) -> str | None:
    """Refuse `+key=value` / `++key=value` for a key the runner does not have.

    Hydra adds such a key without complaint and the job then ignores it, so a typo would run
    a job the user did not ask for; `key=value` with an unknown key is refused by Hydra itself.
    """
    for arg in argv:
        if not arg.startswith("+") or "=" not in arg:
            continue
        key = arg.lstrip("+").split("=", 1)[0]
        if "/" in key or "@" in key or key.split(".")[0] == "hydra":
            continue  # config groups and Hydra's own settings: Hydra checks those
        if not _known(key):
            return (
                f"unknown setting {key!r} in {arg!r}: the runner has no such key, so the job "
                "would ignore it; `python -m runner --cfg job` lists every key"
            )
    return None


def register_configs() -> None:
    """Store the typed schema in Hydra's ConfigStore so conf/config.yaml can extend it."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)


def to_config(cfg: Any) -> Config:
    """Turn the composed DictConfig into the typed dataclass tree."""
    from omegaconf import OmegaConf

    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config)
    return obj
