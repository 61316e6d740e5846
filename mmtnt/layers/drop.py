"""Stochastic depth (drop path)."""
import torch
import torch.nn as nn


def drop_path(x: torch.Tensor, drop_prob: float = 0., training: bool = False) -> torch.Tensor:
    """Zero whole samples of a residual branch, scaling the rest by ``1 / keep_prob``.

    Args:
        x: (B, ...) residual branch output.
        drop_prob: probability of dropping a sample's branch.
        training: no-op unless True.
    """
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0], ) + (1, ) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class DropPath(nn.Module):
    """Stochastic depth per sample, for the main path of residual blocks.

    Args:
        drop_prob: probability of dropping a sample's branch.
    """

    def __init__(self, drop_prob: float = 0.) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
