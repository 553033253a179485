"""Histogram buckets shared by every Prometheus histogram of the stream layer.

One home, so that the worker's and the edge adapters' latency histograms stay comparable on one
Grafana panel (``histogram_quantile`` over two series needs the same ``le`` boundaries).
"""

from __future__ import annotations

from typing import Final

#: Seconds: 1 ms (a cached detection, a local publish) up to 2.5 s (a stalled broker round trip).
LATENCY_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

#: Frames per batch: powers of two up to the largest batch a worker takes (1,024).
BATCH_SIZE_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

#: Mean field confidence, in [0, 1]; finer near 1, where a healthy model lives.
CONFIDENCE_BUCKETS: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
