"""The shipped configs under DDP: two training steps in two gloo processes
(tests/helpers/multiprocess_configs.py), with each config's own settings.

What DDP asks of a model, that every trainable parameter gets a gradient in every step (the
configs keep ``find_unused_parameters=False``), is checked for each full COCO / ADE20K config in
its single-process training step at the config's size, with the config's optimizer and schedules
(test_detection.py, test_segmentation.py); the training data pipelines of those left out of the
DDP run give a batch here.
The DDP run takes every toy config and one full config per codebase, for what only DDP exercises:
the wrapped model's parameter names in the layer-decay constructor, SyncBN on a CPU, the
distributed samplers and COCO's aspect-ratio batches, buffers and dtypes through gloo."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import HELPERS, ROOT
from helpers.configs import ALIASES, CASES, CONFIG_DIR, CONFIGS, SEGMENTORS

WORKER = str(HELPERS / 'multiprocess_configs.py')
# MMDetection: epoch-based, aspect-ratio batches, layer decay; MMSegmentation: SyncBN, layer decay
FULL_UNDER_DDP = ('tnt/retinanet_tnt-s_fpn_1x_coco.py', 'tnt/fpn_tnt-s_8xb2-160k_ade20k-512x512.py')
DDP_CONFIGS = [c for c in CONFIGS
               if '/toy/' in c or str(Path(c).relative_to(CONFIG_DIR)) in FULL_UNDER_DDP]
# (ALIASES: configs/retinanet_tnt_s.py is tnt/retinanet_tnt-s_fpn_1x_coco.py, checked as that)


@pytest.fixture(scope='module')
def generated_data(tmp_path_factory):
    """COCO, ADE20K and the toy set in their layouts (tests/helpers/multiprocess_configs.py)."""
    data = str(tmp_path_factory.mktemp('data'))
    subprocess.run([sys.executable, WORKER, data], check=True, cwd=ROOT)
    return data


@pytest.mark.slow
@pytest.mark.parametrize('path', [c for c in CONFIGS if c not in DDP_CONFIGS + ALIASES],
                         ids=lambda p: Path(p).name)
def test_training_loader_of_each_full_config(path, generated_data, tmp_path):
    """The full configs left out of the DDP run: their training data pipeline (DETR's random
    choice of resizes and crops, ...) and sampler give a batch the model takes (their model,
    optimizer and schedules: test_detection.py / test_segmentation.py)."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from helpers.multiprocess_configs import config_for_test
    cfg = config_for_test(path, generated_data, str(tmp_path))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
        batch = next(iter(loader))
    assert len(batch['inputs']) == cfg.train_dataloader.batch_size
    assert all(x.ndim == 3 and x.shape[0] == 3 for x in batch['inputs'])
    assert len(batch['data_samples']) == len(batch['inputs'])


def test_every_config_is_checked_for_ddp():
    """A new config is either trained under DDP here or has its single-process gradient check
    (find_unused_parameters=False in every config: test_configs.py)."""
    single = {name for name, *_ in CASES} | set(SEGMENTORS)  # paths under configs/
    unchecked = [c for c in CONFIGS if c not in DDP_CONFIGS + ALIASES
                 and str(Path(c).relative_to(CONFIG_DIR)) not in single]
    assert not unchecked, unchecked


@pytest.mark.slow
def test_configs_train_in_two_processes(generated_data, tmp_path):
    data = generated_data
    port = str(29700 + os.getpid() % 1000)
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
         port, WORKER, data, str(tmp_path / 'work'), *DDP_CONFIGS],
        cwd=ROOT, capture_output=True, text=True, timeout=2400,
        env=dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1'))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    for config in DDP_CONFIGS:
        name = Path(config).name
        # (the two ranks print to one stream: lines may run together)
        trained = re.findall(rf'trained {re.escape(name)}: (\d+) iterations', log)
        assert trained == ['2', '2'], f'{name}: {trained}\n{log[-3000:]}'
