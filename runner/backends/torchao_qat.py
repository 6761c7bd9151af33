"""INT8 quantization-aware training with torchao's PT2E flow, then export to ONNX (QDQ).

The FP32 weights are fine-tuned with fake-quant (per-channel int8 weights, uint8 activations,
X86InductorQuantizer's recipe), converted, and exported: the ONNX file holds int8 weights and
QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses into integer kernels.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from runner.backends import Job
from runner.core.registry import register

log = logging.getLogger(__name__)


@register("backend", "torchao_qat")
class TorchaoQatInt8:
    """Fake-quant fine-tuning for `method.qat_epochs`, starting from the FP32 baseline."""

    precision, method = "int8", "qat"

    @staticmethod
    def check(job: Job) -> str | None:
        if not hasattr(job.model.module, "parameters"):
            return "QAT needs a trainable torch model; this model source gives none"
        if len(job.splits.x_train) == 0:
            return "QAT needs training data: dataset.train_fraction is 0"
        import torch

        if isinstance(job.model.module, torch.jit.ScriptModule):
            return "QAT needs an eager torch model: torch.export cannot trace TorchScript"
        if job.cfg.model.task not in ("classification", "regression"):
            return (
                f"QAT fine-tunes classifiers and regressors here; task {job.cfg.model.task} "
                "has no QAT loop yet (use method=ptq)"
            )
        return None

    @staticmethod
    def quantize(job: Job) -> Path:
        from torchao.quantization.pt2e import move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

        from runner.core.onnx_utils import export_onnx

        prepared = fake_quant_fine_tune(job)
        converted = convert_pt2e(prepared)
        move_exported_model_to_eval(converted)
        for module in converted.modules():  # export in eval mode (GraphModule.eval() raises)
            module.training = False
        return export_onnx(converted, job.model.example_input, job.out_dir / "model.onnx")


def fake_quant_fine_tune(job: Job):
    """The FP32 model exported, prepared with X86InductorQuantizer's QAT recipe (per-channel
    int8 weights, uint8 activations, fake-quantized) and fine-tuned for `method.qat_epochs`;
    returns the prepared graph in eval mode (its parameters keep the module's names)."""
    import torch
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e import (
        move_exported_model_to_eval,
        move_exported_model_to_train,
    )
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    from runner.core.train import TASK_LOSS, train_epochs

    m = job.cfg.method
    model = copy.deepcopy(job.model.module).train()
    batch = torch.export.Dim("batch", min=1)
    example = job.model.example_input
    graph = torch.export.export(model, (example,), dynamic_shapes=({0: batch},)).module()
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config(is_qat=True))
    prepared = prepare_qat_pt2e(graph, quantizer)
    move_exported_model_to_train(prepared)
    losses = train_epochs(
        prepared,
        job.splits.x_train,
        job.splits.y_train,
        epochs=m.qat_epochs,
        lr=m.qat_lr,
        batch=job.cfg.model.train_batch,
        seed=job.cfg.seed,
        desc="QAT",
        loss=TASK_LOSS[job.cfg.model.task],
    )
    move_exported_model_to_eval(prepared)
    job.details["qat"] = {
        "epochs": m.qat_epochs,
        "lr": m.qat_lr,
        "loss": losses,
        "quantizer": "X86InductorQuantizer",
    }
    return prepared
