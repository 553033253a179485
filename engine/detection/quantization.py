"""Dynamic int8 quantization of the detector for CPU inference, refused when it costs accuracy.

``torch.ao.quantization.quantize_dynamic`` swaps the LSTMs and the emission layer for int8
versions whose weights are quantized once and activations per batch. The CRF's transition
parameters stay float (they are plain parameters, not modules the quantizer touches), and so do
Viterbi and the marginals, which run on the emissions in numpy. Checkpoints are always written
from the float model: the quantized one is an inference-time copy.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from engine.detection.model import BiLSTMCRF
from engine.errors import EngineError

MAX_BOUNDARY_F1_DROP = 0.005


class QuantizationRefusedError(EngineError):
    """The quantized model lost too much accuracy, or cannot run here; ``report`` says why."""

    def __init__(self, message: str, report: QuantizationReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True, slots=True)
class QuantizationReport:
    """Validation scores before and after, and whether the quantized model was accepted."""

    float_f1: float
    float_boundary_f1: float
    quantized_f1: float
    quantized_boundary_f1: float
    max_drop: float
    accepted: bool

    @property
    def boundary_f1_drop(self) -> float:
        return self.float_boundary_f1 - self.quantized_boundary_f1

    def as_dict(self) -> dict[str, float | bool]:
        return {
            "float_f1": self.float_f1,
            "float_boundary_f1": self.float_boundary_f1,
            "quantized_f1": self.quantized_f1,
            "quantized_boundary_f1": self.quantized_boundary_f1,
            "boundary_f1_drop": self.boundary_f1_drop,
            "max_drop": self.max_drop,
            "accepted": self.accepted,
        }


def quantize_model(model: BiLSTMCRF) -> BiLSTMCRF:
    """An int8 dynamic-quantized copy of a CPU model (the original is left untouched)."""
    if next(model.parameters()).device.type != "cpu":
        raise QuantizationRefusedError("dynamic int8 quantization runs on CPU models only")
    clone = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the API still works in 2.x.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.ao.quantization.quantize_dynamic(
            clone, {nn.LSTM, nn.Linear}, dtype=torch.qint8
        )
    return quantized


def judge(
    before: dict[str, float], after: dict[str, float], max_drop: float = MAX_BOUNDARY_F1_DROP
) -> QuantizationReport:
    """Accept the quantized model when boundary F1 fell by at most ``max_drop``."""
    drop = before["boundary_f1"] - after["boundary_f1"]
    return QuantizationReport(
        float_f1=before["f1"],
        float_boundary_f1=before["boundary_f1"],
        quantized_f1=after["f1"],
        quantized_boundary_f1=after["boundary_f1"],
        max_drop=max_drop,
        accepted=drop <= max_drop,
    )
