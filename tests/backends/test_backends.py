"""Backend selection: the model's preference first, a forced backend, clear errors."""

from __future__ import annotations

import pytest

from runner.backends import select


def test_registration_order_decides_without_a_preference():
    assert select("int8", "ptq")[0] == "ort_static_qdq"


def test_a_models_preferred_backend_wins_for_its_precision_only():
    assert select("int8", "ptq", prefer=["ort_dynamic_int8"])[0] == "ort_dynamic_int8"
    assert select("int4", "ptq", prefer=["ort_dynamic_int8"])[0] == "ort_int4_matmulnbits"


def test_a_forced_backend_must_match_the_combination():
    assert select("int8", "ptq", force="ort_dynamic_int8")[0] == "ort_dynamic_int8"
    name, backend, why = select("int4", "ptq", force="ort_dynamic_int8")
    assert backend is None and "implements int8 x ptq only" in why
    with pytest.raises(ValueError, match="method.backend=nope is unknown; valid: auto, "):
        select("int8", "ptq", force="nope")


def test_qat_has_no_int4_path_and_says_why():
    name, backend, why = select("int4", "qat")
    assert backend is None and "MatMulNBits" in why
