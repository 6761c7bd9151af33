"""The settings each target chooses on simulated hosts: /proc/cpuinfo written by the test, and
the expected settings and record notes written out in the tables below (by hand, from the
kernels' documented behaviour), never computed by the functions under test."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import targets
from tests.conftest import typed

# Simulated hosts: the flag line /proc/cpuinfo shows (x86 "flags", Arm "Features").
HOSTS = {
    # Skylake-SP: AVX-512F and BW, no VNNI: u8 x s8 through vpmaddubsw, 16-bit sums saturate
    "avx512f_no_vnni": ("flags", "fpu sse4_2 avx fma avx2 avx512f avx512dq avx512bw avx512vl"),
    # AVX-512F without BW (Knights Landing): the INT8 path is AVX2's
    "avx512f_only": ("flags", "fpu sse4_2 avx fma avx2 avx512f avx512cd"),
    "avx512_vnni": ("flags", "fpu sse4_2 avx2 avx512f avx512bw avx512_vnni"),  # Cascade Lake
    "avx_vnni": ("flags", "fpu sse4_2 avx2 avx_vnni"),  # Alder Lake
    "amx": ("flags", "avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_int8"),
    "avx2_only": ("flags", "fpu sse4_2 avx fma avx2"),  # Haswell to Coffee Lake, Zen 1-3
    "sse_only": ("flags", "fpu sse sse2 sse4_1 sse4_2"),
    "arm": ("Features", "fp asimd evtstrm aes asimddp sve i8mm bf16"),  # Neoverse V1
    "arm_old": ("Features", "fp asimd evtstrm aes crc32"),  # Cortex-A72: no dot product
}

# (target, host) -> reduce_range, by the rule: full-range (8-bit) weights only where the
# products accumulate in 32 bits (VNNI or AMX) and the target is quantized for this host;
# the AVX2 target is quantized for an AVX2 CPU wherever it runs; Arm and CUDA never saturate.
REDUCE_RANGE = {
    ("cpu_x86", "avx512f_no_vnni"): True,
    ("cpu_x86", "avx512f_only"): True,
    ("cpu_x86", "avx512_vnni"): False,
    ("cpu_x86", "avx_vnni"): False,
    ("cpu_x86", "amx"): False,
    ("cpu_x86", "avx2_only"): True,
    ("cpu_x86", "sse_only"): True,
    ("cpu_x86_avx2", "avx512f_no_vnni"): True,
    ("cpu_x86_avx2", "avx512_vnni"): True,
    ("cpu_x86_avx2", "amx"): True,
    ("cpu_x86_avx2", "avx2_only"): True,
    ("cpu_arm", "arm"): False,
    ("cpu_arm", "arm_old"): False,
    ("cuda", "avx512f_no_vnni"): False,
    ("cuda", "avx2_only"): False,
}

# x86 host -> (the INT8 kernels the record names, the CPU features it lists, in FEATURES order)
X86_NOTES = {
    "avx512f_no_vnni": ("AVX512BW without VNNI (16-bit intermediate sums)", ["avx2", "avx512f"]),
    "avx512f_only": ("AVX2 without VNNI (16-bit intermediate sums)", ["avx2", "avx512f"]),
    "avx512_vnni": ("AVX512-VNNI", ["avx2", "avx512f", "avx512_vnni"]),
    "avx_vnni": ("AVX-VNNI", ["avx2", "avx_vnni"]),
    "amx": (
        "AMX-INT8 tiles",
        ["avx2", "avx512f", "avx512_vnni", "amx_int8", "amx_bf16", "avx512_bf16"],
    ),
    "avx2_only": ("AVX2 without VNNI (16-bit intermediate sums)", ["avx2"]),
    "sse_only": ("SSE (no AVX2)", []),
}
ARM_FEATURES = {"arm": ["asimddp", "i8mm", "sve", "bf16"], "arm_old": []}

# target -> the INT8 form it selects on any host (activation type, weight type, symmetric
# activations, per-channel): x86 and Arm run U8S8, TensorRT takes symmetric S8S8 per channel.
FORMS = {
    "cpu_x86": ("uint8", "int8", False, None),
    "cpu_x86_avx2": ("uint8", "int8", False, None),
    "cpu_arm": ("uint8", "int8", False, None),
    "cuda": ("int8", "int8", True, True),
}


@pytest.fixture
def host(monkeypatch, tmp_path):
    """Make this process read a simulated /proc/cpuinfo; `host(name)` picks the host."""

    def use(name: str | None) -> None:
        cpuinfo = tmp_path / "cpuinfo"
        if name is None:
            cpuinfo = tmp_path / "absent"
        else:
            key, flags = HOSTS[name]
            cpuinfo.write_text(f"processor\t: 0\nmodel name\t: sim\n{key}\t\t: {flags}\n\n")
        real = Path

        def fake_path(p, *rest):
            return cpuinfo if str(p) == "/proc/cpuinfo" else real(p, *rest)

        monkeypatch.setattr(targets, "Path", fake_path)
        targets.host_cpu_flags.cache_clear()

    yield use
    targets.host_cpu_flags.cache_clear()  # the next test reads the real host again


@pytest.mark.parametrize(("target", "name"), sorted(REDUCE_RANGE))
def test_reduce_range_on_simulated_hosts(host, target, name):
    host(name)
    cfg = typed(f"target={target}").target
    quant = targets.quant_settings(cfg)  # the host's own flags, read from the simulated file
    assert quant["reduce_range"] is REDUCE_RANGE[(target, name)]
    act, weight, sym_act, per_channel = FORMS[target]
    assert (quant["activation_type"], quant["weight_type"]) == (act, weight)
    assert quant["symmetric_activations"] is sym_act and quant["per_channel"] is per_channel


@pytest.mark.parametrize("name", sorted(X86_NOTES))
def test_the_record_names_the_x86_kernels_of_a_simulated_host(host, name):
    host(name)
    kernels, features = X86_NOTES[name]
    for target in ("cpu_x86", "cpu_x86_avx2"):
        described = targets.describe(typed(f"target={target}").target)
        assert described["int8_kernels"] == kernels
        assert described["cpu_features"] == features
        assert described["quant"]["reduce_range"] is REDUCE_RANGE.get(
            (target, name), target == "cpu_x86_avx2"
        )


@pytest.mark.parametrize("name", sorted(ARM_FEATURES))
def test_an_arm_host_lists_its_dot_product_features(host, name):
    host(name)
    described = targets.describe(typed("target=cpu_arm").target)
    assert described["cpu_features"] == ARM_FEATURES[name]
    assert described["quant"]["reduce_range"] is False


def test_an_explicit_reduce_range_wins_over_the_hosts_flags(host):
    host("avx2_only")  # auto would turn it on here
    assert targets.quant_settings(typed("target.quant.reduce_range=false").target)[
        "reduce_range"
    ] is False  # fmt: skip
    host("amx")  # auto would turn it off here
    on = typed("target.quant.reduce_range=true").target
    assert targets.quant_settings(on)["reduce_range"] is True


def test_a_host_without_cpuinfo_has_no_flags_and_keeps_7_bit_weights(host):
    host(None)
    assert targets.host_cpu_flags() == frozenset()
    cfg = typed("target=cpu_x86").target
    assert targets.quant_settings(cfg)["reduce_range"] is True  # no VNNI known: the safe side
    assert targets.describe(cfg)["int8_kernels"] == "SSE (no AVX2)"


def test_timing_sessions_use_the_targets_threads_and_never_spin():
    cfg = typed("target=cpu_x86", "target.threads=3").target
    so = targets.session_options(cfg)
    assert (so.intra_op_num_threads, so.inter_op_num_threads) == (3, 1)
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert so.log_severity_level == 3  # errors only: no warning lines in a job's log


def test_describe_names_the_host_and_the_settings_it_chose(host, monkeypatch):
    import platform

    host("avx2_only")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    cfg = typed("target=cpu_x86", "target.threads=2").target
    d = targets.describe(cfg)
    assert (d["name"], d["threads"], d["host_machine"]) == ("cpu_x86", 2, "x86_64")
    assert d["providers"] == ["CPUExecutionProvider"] and d["torch_device"] == cfg.torch_device
    assert d["quant"]["reduce_range"] is True and d["quant"]["format"] == "qdq"


@pytest.mark.parametrize(
    ("machine", "x86", "arm"),
    [("x86_64", True, False), ("AMD64", True, False), ("aarch64", False, True),
     ("arm64", False, True), ("riscv64", False, False)],
)  # fmt: skip
def test_each_cpu_target_runs_on_its_own_architecture(host, monkeypatch, machine, x86, arm):
    import platform

    host("avx2_only")
    monkeypatch.setattr(platform, "machine", lambda: machine)
    for name, ok, words in (
        ("cpu_x86", x86, "needs an x86-64 host"),
        ("cpu_x86_avx2", x86, "needs an x86-64 host"),
        ("cpu_arm", arm, "needs an Arm64 host"),
    ):
        cfg = typed(f"target={name}").target
        why = targets.implementation(cfg)(cfg)
        expected = None if ok else f"target {name} {words}; this host is {machine.lower()}"
        assert why == expected


def test_the_avx2_target_needs_avx2_on_an_x86_host(host, monkeypatch):
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    cfg = typed("target=cpu_x86_avx2").target
    host("sse_only")
    assert targets.implementation(cfg).unavailable(cfg) == (
        "target cpu_x86_avx2 needs AVX2 to run its kernels; this CPU lacks it"
    )
    host("avx2_only")
    assert targets.implementation(cfg).unavailable(cfg) is None
    notes = targets.describe(cfg)
    assert notes["quantized_for"] == "AVX2 without VNNI (reduce_range against 16-bit saturation)"


def test_cuda_says_what_is_missing_and_what_it_times_with(monkeypatch):
    import onnxruntime as ort

    cfg = typed("target=cuda").target
    impl = targets.implementation(cfg)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert impl.unavailable(cfg) == (
        "target cuda needs CUDAExecutionProvider, which this onnxruntime build lacks "
        "(no GPU, or install onnxruntime-gpu on a CUDA host)"
    )
    assert impl.unsupported(cfg, "torchao_int4_weight_only") == (
        "backend torchao_int4_weight_only keeps a torch model that runs on the CPU; on cuda "
        "use an ONNX Runtime backend (method.backend=ort_...)"
    )
    timing = "synchronised (outputs copied to the host each call)"
    gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: gpu)
    assert impl.unavailable(cfg) is None
    assert targets.describe(cfg)["tensorrt"] is False and impl.notes(cfg, frozenset()) == {
        "tensorrt": False,
        "timing": timing,
    }
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["TensorrtExecutionProvider", *gpu])
    assert impl.notes(cfg, frozenset()) == {"tensorrt": True, "timing": timing}
    assert targets.describe(cfg)["providers"] == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
    ]


def test_a_timing_session_gets_the_targets_providers_and_options(monkeypatch):
    import onnxruntime as ort

    made = []
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **kw: made.append((a, kw)) or "s")
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: gpu)
    assert targets.make_session("m.onnx", typed("target=cuda", "target.threads=3").target) == "s"
    ((args, kwargs),) = made
    assert args[0] == "m.onnx" and args[1].intra_op_num_threads == 3
    assert kwargs == {"providers": gpu[:2]}  # never left to ONNX Runtime's own choice
