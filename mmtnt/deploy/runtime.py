"""Run an exported graph in ONNX Runtime, with the model's own pre- and post-processing."""
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from .graph import group_outputs, model_task


class OnnxRuntimeModel:
    """An ONNX Runtime session over an mmtnt export (:func:`mmtnt.deploy.export_onnx`).

    Called with a preprocessed batch it returns the graph's outputs as tensors; with the PyTorch
    model built from the same config (its weights are not used), :meth:`predict` gives what
    ``model.predict`` gives: the model's data preprocessor, the graph in ONNX Runtime, then the
    model's post-processing in Python (anchors, box decoding, NMS; cropping and resizing logits).

    Args:
        path: the ``.onnx`` file.
        model: the detector / segmentor the graph was exported from, for :meth:`predict`.
        providers: ONNX Runtime execution providers (default: CPU).
        num_threads: intra-op threads (default: ONNX Runtime's choice, one per core).
    """

    def __init__(self,
                 path: str,
                 model: Optional[nn.Module] = None,
                 providers: Optional[Sequence[str]] = None,
                 num_threads: Optional[int] = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - installed by tools/setup_env.sh
            raise ImportError('onnxruntime is needed to run exported models: '
                              'bash tools/setup_env.sh installs the pinned version.') from e
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = ort.InferenceSession(path, options,
                                            providers=list(providers or ['CPUExecutionProvider']))
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.model = model

    def __call__(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """(B, C, H, W) preprocessed batch -> the graph's outputs."""
        feed = {self.input_name: np.ascontiguousarray(inputs.detach().cpu().float().numpy())}
        return [torch.from_numpy(o) for o in self.session.run(None, feed)]

    def predict(self, data: dict) -> list:
        """A batch from the model's dataloader -> data samples with predictions, as
        ``model.test_step(data)``."""
        if self.model is None:
            raise ValueError('predict() needs the PyTorch model built from the same config: '
                             'OnnxRuntimeModel(path, model=model).')
        data = self.model.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']
        outputs = self(inputs)
        if model_task(self.model) == 'segmentation':
            return self.model.postprocess_result(outputs[0], samples)
        head = self.model.bbox_head
        results = head.predict_by_feat(*group_outputs(self.output_names, outputs),
                                       batch_img_metas=[s.metainfo for s in samples],
                                       rescale=True)
        return self.model.add_pred_to_datasample(samples, results)
