import pytest
import torch

# a TNT small enough for fast CPU tests; same structure as TNT-S
TINY_ARCH = dict(embed_dims=48, inner_dims=8, num_layers=3, num_heads=4, inner_num_heads=2)


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end test (minutes); CI runs it too')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def randomize_(module: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """Perturb every parameter so that parity tests do not pass on symmetric default inits."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)
    return module


@pytest.fixture(scope='session')
def toy_data_root(tmp_path_factory):
    """The built-in toy set, generated once per test session (a few seconds)."""
    from mmtnt.datasets import ensure_toy_shapes
    return ensure_toy_shapes(str(tmp_path_factory.mktemp('data') / 'toy_shapes')) + '/'
