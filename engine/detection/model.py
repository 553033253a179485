"""The BiLSTM-CRF network.

Bytes → embedding ⊕ 4 byte features (printable, zero, high bit, relative position) → stacked
bidirectional LSTM → linear emissions → CRF (pytorch-crf).

The LSTMs run on padded batches without packing (packing was ~6x slower in the backward pass on
2 CPU cores). To keep padding out of the backward direction, each sequence is reversed *within its
own length* before the backward LSTM and reversed back after, so padded positions only ever come
after the real bytes in both directions: outputs at real positions equal a packed run's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchcrf import CRF

NUM_BYTE_FEATURES = 4


def byte_features(byte_ids: Tensor, lengths: Tensor) -> Tensor:
    """Per-byte features ``(B, T, 4)``: printable ASCII, zero, high bit, relative position."""
    b = byte_ids
    printable = ((b >= 0x20) & (b <= 0x7E)).float()
    zero = (b == 0).float()
    high = (b >= 0x80).float()
    positions = torch.arange(b.shape[1], device=b.device).unsqueeze(0).float()
    denom = (lengths - 1).clamp(min=1).unsqueeze(1).float()
    relpos = (positions / denom).clamp(max=1.0)
    return torch.stack([printable, zero, high, relpos], dim=-1)


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row's first ``length`` steps, leaving padding in place (an involution)."""
    t = x.shape[1]
    if bool((lengths == t).all()):
        return x.flip(1)  # no padding (length-bucketed batches often have none): plain flip
    steps = torch.arange(t, device=x.device).unsqueeze(0)
    lens = lengths.unsqueeze(1)
    idx = torch.where(steps < lens, lens - 1 - steps, steps)
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[2]))


class BiLSTMCRF(nn.Module):
    """Byte tagger.

    Args:
        num_tags: Size of the tag set (``O`` plus B/I/E/S per field type).
        embedding_dim: Byte embedding width.
        hidden_size: LSTM units per direction.
        num_layers: Stacked bidirectional layers.
        dropout: Dropout on layer outputs (training only).
    """

    def __init__(
        self,
        num_tags: int,
        embedding_dim: int = 48,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "num_tags": num_tags,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
        }
        self.embedding = nn.Embedding(256, embedding_dim)
        self.forward_lstms = nn.ModuleList()
        self.backward_lstms = nn.ModuleList()
        in_dim = embedding_dim + NUM_BYTE_FEATURES
        for _ in range(num_layers):
            self.forward_lstms.append(nn.LSTM(in_dim, hidden_size, batch_first=True))
            self.backward_lstms.append(nn.LSTM(in_dim, hidden_size, batch_first=True))
            in_dim = 2 * hidden_size
        self.dropout = nn.Dropout(dropout)
        self.emission = nn.Linear(2 * hidden_size, num_tags)
        self.crf = CRF(num_tags, batch_first=True)

    @property
    def num_tags(self) -> int:
        return int(self.config["num_tags"])

    def emissions(self, byte_ids: Tensor, lengths: Tensor) -> Tensor:
        """Emission scores ``(B, T, num_tags)`` for a right-padded batch."""
        x = torch.cat([self.embedding(byte_ids), byte_features(byte_ids, lengths)], dim=-1)
        for fwd, bwd in zip(self.forward_lstms, self.backward_lstms, strict=True):
            out_f, _ = fwd(x)
            out_b, _ = bwd(reverse_within_lengths(x, lengths))
            x = self.dropout(torch.cat([out_f, reverse_within_lengths(out_b, lengths)], dim=-1))
        return self.emission(x)

    def loss(self, byte_ids: Tensor, lengths: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Mean negative log-likelihood of the gold tag paths."""
        return -self.crf(self.emissions(byte_ids, lengths), tags, mask=mask, reduction="mean")

    def grow_tags(self, num_tags: int) -> None:
        """Widen the output to ``num_tags`` tags, keeping every learned weight of the old ones.

        Used when incremental training meets field types the model has not seen. New emission
        rows start at zero and new transitions small, so old predictions are barely disturbed.
        """
        old = self.num_tags
        if num_tags < old:
            raise ValueError("cannot shrink the tag set")
        if num_tags == old:
            return
        emission = nn.Linear(self.emission.in_features, num_tags)
        crf = CRF(num_tags, batch_first=True)
        with torch.no_grad():
            emission.weight.zero_()
            emission.bias.zero_()
            emission.weight[:old] = self.emission.weight
            emission.bias[:old] = self.emission.bias
            crf.transitions.mul_(0.1)
            crf.transitions[:old, :old] = self.crf.transitions
            crf.start_transitions[:old] = self.crf.start_transitions
            crf.end_transitions[:old] = self.crf.end_transitions
        self.emission = emission.to(self.emission.weight.device)
        self.crf = crf.to(self.emission.weight.device)
        self.config["num_tags"] = num_tags
