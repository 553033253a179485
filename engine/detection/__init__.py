"""Byte-level BiLSTM-CRF field boundary detection.

``FieldDetector`` (``field_detector``) is the public entry point; the other modules are its
parts: ``tags`` (BIOES tag set), ``model`` (network), ``decoding`` (Viterbi and CRF marginals),
``scoring`` (span and boundary P/R/F1), ``dataset`` (labelled frames and JSONL files),
``trainer`` (``DetectorTrainer``: what changes the weights), ``epochs`` (the loop over epochs and
batches), ``checkpoint`` (safe save/load) and ``checkpoint_catalog`` (checkpoint names, listing
and rollback look-ups).
"""

from engine.detection.boundary import FieldBoundary

__all__ = ["FieldBoundary"]
