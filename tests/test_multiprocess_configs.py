"""Every shipped config takes two training steps in two gloo processes (tests/multiprocess_configs.py):
no DDP unused-parameter, buffer or dtype error with the config's own settings."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_configs import CONFIGS

ROOT = Path(__file__).parents[1]
WORKER = str(Path(__file__).parent / 'multiprocess_configs.py')


@pytest.mark.slow
def test_every_config_trains_in_two_processes(tmp_path):
    data = str(tmp_path / 'data')
    subprocess.run([sys.executable, WORKER, data], check=True, cwd=ROOT)
    port = str(29700 + os.getpid() % 1000)
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
         port, WORKER, data, str(tmp_path / 'work'), *CONFIGS],
        cwd=ROOT, capture_output=True, text=True, timeout=2400,
        env=dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1'))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    for config in CONFIGS:
        name = Path(config).name
        # (the two ranks print to one stream: lines may run together)
        trained = re.findall(rf'trained {re.escape(name)}: (\d+) iterations', log)
        assert trained == ['2', '2'], f'{name}: {trained}\n{log[-3000:]}'
