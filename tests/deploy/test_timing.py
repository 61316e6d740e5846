"""mmtnt.deploy.timing: what tools/test.py's seconds per image cover, for every backend."""
import time
from types import SimpleNamespace

import pytest
import torch
from mmengine.model import BaseDataPreprocessor, BaseModel

from mmtnt.deploy.timing import PredictionTimer, describe_timing, median_seconds_per_image

PREPROCESS, NETWORK = 0.05, 0.02  # seconds each step sleeps


class SlowPreprocessor(BaseDataPreprocessor):

    def forward(self, data, training=False):
        time.sleep(PREPROCESS)
        return super().forward(data, training)


class Model(BaseModel):

    def __init__(self):
        super().__init__(data_preprocessor=SlowPreprocessor())
        self.layer = torch.nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode='predict'):
        time.sleep(NETWORK * len(inputs))
        return [self.layer(x) for x in inputs]


def test_timer_covers_the_step_after_preprocessing_per_image():
    model = Model()
    runner = SimpleNamespace(model=model)
    timer = PredictionTimer()
    timer.before_test_epoch(runner)
    for batch in (1, 3, 3):
        model.test_step(dict(inputs=[torch.ones(2)] * batch))
    timer.after_test_epoch(runner)
    assert [images for _, images in timer.timings] == [1, 3, 3]
    seconds = timer.seconds_per_image()
    # NETWORK per image: the preprocessor's sleep (2.5x longer) is not in it
    assert NETWORK <= seconds < NETWORK + 0.5 * PREPROCESS, seconds
    # after the test the model's own test_step and an unhooked preprocessor
    assert 'test_step' not in vars(model)
    assert not model.data_preprocessor._forward_hooks
    assert 'median over 2 batches, the first left out' in timer.describe()


def test_timer_wraps_a_replaced_test_step():
    """A deployed backend replaces test_step (use_in_runner); the timer wraps that one."""
    model = Model()
    calls = []

    def deployed_step(data):
        data = model.data_preprocessor(data, False)
        calls.append(len(data['inputs']))
        return list(data['inputs'])

    model.test_step = deployed_step
    runner = SimpleNamespace(model=model)
    timer = PredictionTimer()
    timer.before_test_epoch(runner)
    model.test_step(dict(inputs=[torch.ones(2)] * 2))
    timer.after_test_epoch(runner)
    assert calls == [2] and len(timer.timings) == 1 and timer.timings[0][1] == 2
    assert timer.timings[0][0] < PREPROCESS
    assert model.test_step is deployed_step


@pytest.mark.parametrize('timings, skip, expected', [
    ([], 1, None),
    ([(4.0, 2)], 1, 2.0),  # one call: it is the figure
    ([(9.0, 1), (2.0, 2), (3.0, 1), (1.0, 1)], 1, 1.0),  # warm-up out; median of 1, 3, 1
])
def test_median_seconds_per_image(timings, skip, expected):
    assert median_seconds_per_image(timings, skip) == expected


def test_describe_timing_says_what_is_covered():
    assert describe_timing(None, 0, 'x') == 'no batch timed'
    assert describe_timing(0.5, 1, 'scope') == '0.5000 s/image (median over 1 batch; scope)'
    assert describe_timing(0.5, 3, 's') == \
        '0.5000 s/image (median over 2 batches, the first left out; s)'


def test_untimed_steps_are_said(monkeypatch):
    """A test_step that never calls the preprocessor (a TTA wrapper): nothing timed, and
    the log says why."""
    import mmtnt.deploy.timing as timing
    logged = []
    monkeypatch.setattr(timing, 'print_log', lambda msg, **kwargs: logged.append(msg))
    model = Model()
    model.test_step = lambda data: [data]
    runner = SimpleNamespace(model=model)
    timer = PredictionTimer()
    timer.before_test_epoch(runner)
    model.test_step(None)
    timer.after_test_epoch(runner)
    assert timer.timings == [] and timer.describe() == 'no batch timed'
    assert any('none of the 1 test steps called' in m for m in logged), logged
