"""Shared by every test folder: the ``slow`` marker, a fixed seed per test, the toy data set (once a
session). Helpers that tests import live in the ``helpers`` package beside this file."""
import sys
from pathlib import Path

import pytest
import torch

# tests/ on sys.path, so that every test folder imports ``helpers`` (pytest's default "prepend"
# import mode puts it there too, as the rootdir of this conftest; said here for other modes)
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end test (minutes); CI runs it too')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def toy_data_root(tmp_path_factory):
    """The built-in toy set, generated once per test session (a few seconds)."""
    from mmtnt.datasets import ensure_toy_shapes
    return ensure_toy_shapes(str(tmp_path_factory.mktemp('data') / 'toy_shapes')) + '/'
