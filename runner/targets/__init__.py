"""Hardware targets: whether the host can run them, and the ONNX Runtime session they imply."""

from __future__ import annotations

from runner.schema import TargetConfig


def session_options(cfg: TargetConfig):
    """Session options shared by every model timed on a target: fixed threads, no spinning.

    Spinning worker threads would steal the core that the next measurement (or torch) needs.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = cfg.threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


def make_session(path: str, cfg: TargetConfig):
    """An InferenceSession for `path` on the target's provider."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), session_options(cfg), providers=[cfg.provider])
