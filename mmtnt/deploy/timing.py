"""Seconds per image of a test run, measured alike for PyTorch and the deployed backends."""
import time
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

# what :class:`PredictionTimer` times, for logs
PREDICTION_SCOPE = ('test_step after its data preprocessing: the network and the '
                    'post-processing (box decoding and NMS / resizing logits)')


def median_seconds_per_image(timings: List[Tuple[float, int]],
                             skip: int = 1) -> Optional[float]:
    """(seconds, batch size) per call -> the median over calls of seconds per image, leaving
    out the first ``skip`` calls (warm-up: kernels compiled or chosen for each new shape) where
    more than ``skip`` calls were made. None before any call."""
    times = timings[skip:] if len(timings) > skip else timings
    if not times:
        return None
    return float(np.median([seconds / batch for seconds, batch in times]))


def describe_timing(seconds: Optional[float], calls: int, scope: str) -> str:
    """``0.0123 s/image (median over N batches, the first left out; SCOPE)`` for logs."""
    if seconds is None:
        return 'no batch timed'
    first = ', the first left out' if calls > 1 else ''
    batches = max(calls - 1, 1)
    return (f'{seconds:.4f} s/image (median over {batches} batch{"es" if batches > 1 else ""}'
            f'{first}; {scope})')


class PredictionTimer(Hook):
    """Times every ``test_step`` of a test run from the end of its data preprocessing to its
    predictions (:data:`PREDICTION_SCOPE`), whatever runs the network: the PyTorch model or a
    deployed backend that replaced ``test_step`` (:func:`mmtnt.deploy.use_in_runner`). Data
    loading and the evaluator are left out. On a GPU the clock waits for the device.

    Register it after any hook that replaces ``test_step`` (it wraps the ``test_step`` it
    finds at ``before_test_epoch``).

    Attributes:
        timings (list[tuple[float, int]]): per batch, (seconds, images).
        device (torch.device): where the runner's model is (CPU for a deployed backend's).
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.timings: List[Tuple[float, int]] = []
        self.calls = 0
        self._start: Optional[float] = None
        self._handle = None
        self._wrapped = None
        self.device = torch.device('cpu')

    def before_test_epoch(self, runner) -> None:
        self.timings, self.calls = [], 0
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.device = next(iter(model.parameters()), torch.empty(0)).device
        sync = torch.cuda.synchronize if self.device.type == 'cuda' else (lambda: None)

        def preprocessed(module, args, output):
            sync()
            self._start = time.perf_counter()

        self._handle = model.data_preprocessor.register_forward_hook(preprocessed)
        test_step = runner.model.test_step

        def timed_test_step(data):
            self._start = None
            self.calls += 1
            outputs = test_step(data)
            sync()
            if self._start is not None:
                self.timings.append((time.perf_counter() - self._start, len(outputs)))
            return outputs

        # (the instance's own test_step where a backend set one, else the class's method)
        self._wrapped = (runner.model, vars(runner.model).get('test_step'))
        runner.model.test_step = timed_test_step

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self.calls and not self.timings:
            print_log(f'seconds per image: none of the {self.calls} test steps called the '
                      f'model\'s data_preprocessor (a test-time augmentation wrapper, or a '
                      f'test_step of its own), so none was timed.', logger='current', level=30)
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if self._wrapped is not None:
            model, test_step = self._wrapped
            if test_step is None:
                del model.test_step
            else:
                model.test_step = test_step
            self._wrapped = None

    def seconds_per_image(self, skip: int = 1) -> Optional[float]:
        """Median seconds per image over the timed batches (see
        :func:`median_seconds_per_image`)."""
        return median_seconds_per_image(self.timings, skip)

    def describe(self) -> str:
        return describe_timing(self.seconds_per_image(), len(self.timings), PREDICTION_SCOPE)
