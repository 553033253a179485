"""Byte-level BiLSTM-CRF field boundary detection.

``FieldDetector`` is the public entry point; the other modules are its parts: ``tags`` (BIOES
tag set), ``model`` (network), ``decoding`` (Viterbi and CRF marginals), ``metrics``,
``dataset`` (labelled frames and JSONL files), ``checkpoint`` (safe save/load) and
``checkpoints`` (listing and rollback helpers).
"""

from engine.detection.boundary import FieldBoundary

__all__ = ["FieldBoundary"]
