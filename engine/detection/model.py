"""The BiLSTM-CRF network.

Bytes → embedding ⊕ 4 byte features (printable, zero, high bit, relative position) → stacked
bidirectional LSTM → linear emissions → CRF (pytorch-crf).

With ``boundary_head=1`` a second linear layer on the same LSTM states scores, per byte, whether
a field boundary (a cut) lies just before it, trained by binary cross-entropy beside the CRF.
The cut scores need no type sequence, so they carry no protocol-specific type grammar: the
boundary-only reading (:mod:`engine.detection.boundary_head`) for protocols the CRF never saw.

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
#: Weight of the boundary head's loss (summed over a frame's bytes) beside the CRF's NLL.
BOUNDARY_LOSS_WEIGHT = 1.0


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
        boundary_head: 1 adds the per-byte cut scorer (``boundary``), 0 leaves it out (an int,
            not a bool: checkpoint configs hold numbers only).
    """

    def __init__(
        self,
        num_tags: int,
        embedding_dim: int = 48,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.1,
        boundary_head: int = 0,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "num_tags": num_tags,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
        }
        if boundary_head:
            # Only present when used, so configs (and checkpoints) without a head stay as before.
            self.config["boundary_head"] = 1
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
        self.boundary: nn.Linear | None = nn.Linear(2 * hidden_size, 1) if boundary_head else None

    @property
    def num_tags(self) -> int:
        return int(self.config["num_tags"])

    @property
    def has_boundary_head(self) -> bool:
        return self.boundary is not None

    def encode(self, byte_ids: Tensor, lengths: Tensor) -> Tensor:
        """Top BiLSTM states ``(B, T, 2 * hidden_size)`` for a right-padded batch."""
        x = torch.cat([self.embedding(byte_ids), byte_features(byte_ids, lengths)], dim=-1)
        for fwd, bwd in zip(self.forward_lstms, self.backward_lstms, strict=True):
            out_f, _ = fwd(x)
            out_b, _ = bwd(reverse_within_lengths(x, lengths))
            x = self.dropout(torch.cat([out_f, reverse_within_lengths(out_b, lengths)], dim=-1))
        return x

    def emissions(self, byte_ids: Tensor, lengths: Tensor) -> Tensor:
        """Emission scores ``(B, T, num_tags)`` for a right-padded batch."""
        return self.emission(self.encode(byte_ids, lengths))

    def emissions_and_cuts(self, byte_ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """Emission scores and, with a boundary head, cut logits ``(B, T)`` from one pass.

        ``cuts[b, t]`` scores a boundary just before byte ``t``; position 0 is meaningless.
        """
        x = self.encode(byte_ids, lengths)
        cuts = self.boundary(x).squeeze(-1) if self.boundary is not None else None
        return self.emission(x), cuts

    def loss(
        self,
        byte_ids: Tensor,
        lengths: Tensor,
        tags: Tensor,
        mask: Tensor,
        cut_targets: Tensor | None = None,
    ) -> Tensor:
        """Mean negative log-likelihood of the gold tag paths, plus the boundary head's loss.

        Args:
            cut_targets: ``(B, T)`` float, 1 where a gold boundary lies just before the byte;
                needed when the model has a boundary head, ignored otherwise. Position 0 and
                padding are not scored.
        """
        emissions, cuts = self.emissions_and_cuts(byte_ids, lengths)
        nll = -self.crf(emissions, tags, mask=mask, reduction="mean")
        if cuts is None:
            return nll
        if cut_targets is None:
            raise ValueError("a model with a boundary head needs cut_targets to train")
        scored = mask.clone()
        scored[:, 0] = False
        bce = nn.functional.binary_cross_entropy_with_logits(
            cuts[scored], cut_targets[scored].to(cuts.dtype), reduction="sum"
        )
        # Summed per frame like the CRF's NLL, so neither loss drowns the other.
        return nll + BOUNDARY_LOSS_WEIGHT * bce / byte_ids.shape[0]

    def add_boundary_head(self) -> None:
        """Add an untrained boundary head (fine-tuning a model that was trained without one)."""
        if self.boundary is None:
            self.boundary = nn.Linear(self.emission.in_features, 1).to(self.emission.weight.device)
            self.config["boundary_head"] = 1

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
