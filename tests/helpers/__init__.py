"""What the tests share: the tree's paths, tiny models, and (in the modules beside this one) the
shipped configs' helpers, the peer checkpoints, the tiny mmengine run and the DDP worker.

Test modules import from here (``from helpers import TINY_ARCH``), never from each other;
``tests/`` is on ``sys.path`` through ``tests/conftest.py``. The scripts here that run as their own
processes (``tiny_runner.py``, ``multiprocess_configs.py``) import only mmtnt and its dependencies.
"""
from pathlib import Path

import torch

HELPERS = Path(__file__).parent
TESTS = HELPERS.parent
ROOT = TESTS.parent
DATA = TESTS / 'data'

# a TNT small enough for fast CPU tests; same structure as TNT-S
TINY_ARCH = dict(embed_dims=48, inner_dims=8, num_layers=3, num_heads=4, inner_num_heads=2)
# a small PyramidTNT for fast tests: same structure as PyramidTNT-Ti
TINY_PTNT = dict(depths=[1, 2, 1, 1], outer_dims=[16, 32, 64, 64], inner_dims=[2, 4, 8, 8],
                 outer_heads=[1, 2, 4, 4], inner_heads=[1, 1, 2, 2])


def randomize_(module: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """Perturb every parameter so that parity tests do not pass on symmetric default inits."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)
    return module
