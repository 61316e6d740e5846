"""Transformer feed-forward network."""
from typing import Type

import torch
import torch.nn as nn


class Mlp(nn.Module):
    """Linear -> activation -> dropout -> Linear -> dropout.

    Args:
        in_features: input (and output) channels.
        hidden_features: hidden channels.
        act_layer: activation class.
        drop: dropout probability after each linear layer.
    """

    def __init__(self,
                 in_features: int,
                 hidden_features: int,
                 act_layer: Type[nn.Module] = nn.GELU,
                 drop: float = 0.) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., C) -> (..., C)."""
        h = self.fc1(x)
        if type(self.act) is nn.GELU and self.act.approximate == 'none' \
                and not torch.is_grad_enabled():
            h = torch.ops.aten.gelu_(h)  # inference: GELU in place on fc1's fresh output
        else:
            h = self.act(h)
        return self.drop(self.fc2(self.drop(h)))


class SqueezeExcite(nn.Module):
    """TNT's token squeeze-and-excitation: a gate from the mean token scales every token.

    Args:
        dim: token channels.
        hidden_ratio: hidden channels as a fraction of ``dim``.
        norm_layer: normalisation class applied to the mean token.
    """

    def __init__(self,
                 dim: int,
                 hidden_ratio: float = 0.25,
                 norm_layer: Type[nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        hidden = int(dim * hidden_ratio)
        self.fc = nn.Sequential(
            norm_layer(dim), nn.Linear(dim, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, dim), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) tokens -> (B, N, C) gated tokens."""
        return x * self.fc(x.mean(dim=1, keepdim=True))
