"""What tools/benchmark.py measures: its models (name -> label, how each is built, compiled or
deployed), the settings that compare them (``--sizes``, ``--quick``) and the attention shapes
(``--attention``). The timing, memory, FLOP counting and report are in benchmark.py, which imports
this module from its own folder."""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch

from mmtnt import PyramidTNT, TNTBackbone
from mmtnt.deploy.export import BACKEND_NAMES

Size = Tuple[int, int]


def _timm(name: str):

    def build(size):
        import timm

        class Features(torch.nn.Module):

            def __init__(self):
                super().__init__()
                self.model = timm.create_model(name, pretrained=False, img_size=size,
                                               num_classes=0)

            def forward(self, x):
                return self.model.forward_features(x)

        return Features()

    return build


def _mmpretrain_tnt(size):
    from mmpretrain.models.backbones import TNT
    return TNT(arch='s', img_size=size)


def _config_graph(config: str):
    """A shipped config's model (its backbone's ImageNet weights not loaded) from the batch to
    its dense outputs / logits."""

    def build(size):
        from mmengine.config import Config

        from mmtnt.deploy import build_graph
        from mmtnt.utils import build_model
        cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', 'configs', config))
        cfg.model.backbone.init_cfg = None
        return build_graph(build_model(cfg))[0]

    return build


def _toy(name: str):
    """A toy config's model (configs/toy/NAME.py) from the batch to its dense outputs / logits."""

    def build(size):
        from mmengine.config import Config

        from mmtnt.deploy import build_graph
        from mmtnt.utils import build_model
        path = osp.join(osp.dirname(__file__), '..', 'configs', 'toy', f'{name}.py')
        return build_graph(build_model(Config.fromfile(path)))[0]

    return build


WINDOW_CFG = dict(window_size=14, global_attn_indices=(2, 5, 8, 11))

# ---------------------------------------------------------------------------------------- models
# model name -> (description, factory(img_size) -> module whose forward(x) returns features)
EAGER: Dict[str, Tuple[str, Callable[[Size], torch.nn.Module]]] = {
    'mmtnt': ('mmtnt TNTBackbone TNT-S', lambda size: TNTBackbone(arch='s')),  # fused_attn='auto'
    'mmtnt_sdpa': ('mmtnt TNT-S, fused_attn=True',
                   lambda size: TNTBackbone(arch='s', fused_attn=True)),
    'mmtnt_manual': ('mmtnt TNT-S, fused_attn=False',
                     lambda size: TNTBackbone(arch='s', fused_attn=False)),
    'mmtnt_window': ('mmtnt TNT-S, window 14, global blocks 2/5/8/11',
                     lambda size: TNTBackbone(arch='s', **WINDOW_CFG)),
    'mmtnt_window_cp': ('mmtnt TNT-S, window 14 + with_cp',
                        lambda size: TNTBackbone(arch='s', with_cp=True, **WINDOW_CFG)),
    'mmtnt_ptnt': ('mmtnt PyramidTNT-S (4 stages)', lambda size: PyramidTNT(arch='s')),
    'timm_tnt': ('timm tnt_s_patch16_224', _timm('tnt_s_patch16_224')),
    'timm_deit': ('timm deit_small_patch16_224', _timm('deit_small_patch16_224')),
    'mmpretrain_tnt': ('mmpretrain TNT-S', _mmpretrain_tnt),
    'retinanet': ('mmtnt RetinaNet-TNT-S (no NMS)', _config_graph('retinanet_tnt_s.py')),
    'upernet': ('mmtnt UperNet-TNT-S (512x512 crops)',
                _config_graph('tnt/upernet_tnt-s_8xb2-160k_ade20k-512x512.py')),
    'retinanet_toy': ('mmtnt toy RetinaNet-TNT (no NMS)', _toy('retinanet_tnt_toy')),
    'upernet_toy': ('mmtnt toy UperNet-TNT', _toy('upernet_tnt_toy')),
}
# other execution paths of the same models, named <model>_<suffix>:
# compiled: suffix -> (description, torch.compile's inductor options, the models compiled so)
COMPILED = {
    'compile': ('torch.compile', {}, ('mmtnt', 'mmtnt_sdpa', 'mmtnt_manual', 'timm_tnt',
                                      'retinanet')),
    # inductor's freezing (weights as constants, prepacked) applies to inference only
    'frozen': ('torch.compile + freezing', dict(freezing=True), ('mmtnt', 'timm_tnt')),
}
# exported: suffix -> (backend, precision): ONNX Runtime fp32 / int8, OpenVINO fp32 / bf16 / int8
# (NNCF's IR, what tools/test.py runs) and int8_qdq (ONNX Runtime's QDQ file run by OpenVINO)
DEPLOYED = {'ort': ('onnxruntime', 'fp32'), 'ort_int8': ('onnxruntime', 'int8'),
            'ov': ('openvino', 'fp32'), 'ov_bf16': ('openvino', 'bf16'),
            'ov_int8': ('openvino', 'int8'), 'ov_int8_qdq': ('openvino', 'int8_qdq')}
DEPLOYED_BASES = ('mmtnt', 'retinanet', 'upernet', 'retinanet_toy', 'upernet_toy')


@dataclass(frozen=True)
class BenchModel:
    """One model of the benchmark: an eager one (``build``), or another execution path of the
    eager model ``base`` (whose FLOPs and params it reports): compiled with ``compile_options``
    (``{}``: torch.compile's defaults), or exported and run by ``backend`` in ``precision``."""
    label: str
    build: Optional[Callable[[Size], torch.nn.Module]] = None
    base: Optional[str] = None
    compile_options: Optional[dict] = None
    backend: Optional[str] = None
    precision: Optional[str] = None

    @property
    def forward_only(self) -> bool:
        """Inference only: run by ONNX Runtime / OpenVINO, or compiled with freezing."""
        return self.backend is not None or bool((self.compile_options or {}).get('freezing'))


def _model_table() -> Dict[str, BenchModel]:
    models = {name: BenchModel(label, build) for name, (label, build) in EAGER.items()}
    for suffix, (what, options, bases) in COMPILED.items():
        for base in bases:
            models[f'{base}_{suffix}'] = BenchModel(f'{EAGER[base][0]}, {what}', base=base,
                                                    compile_options=options)
    for base in DEPLOYED_BASES:
        for suffix, (backend, precision) in DEPLOYED.items():
            models[f'{base}_{suffix}'] = BenchModel(
                f'{EAGER[base][0]}, {BACKEND_NAMES[backend]} {precision}', base=base,
                backend=backend, precision=precision)
    return models


MODELS: Dict[str, BenchModel] = _model_table()


# -------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    """Models compared on ``batch`` images of ``size`` (h, w); the peak memory of those in
    ``memory`` (None: of every model; ``--no-memory``: of none)."""
    size: Size
    batch: int
    models: List[str]
    memory: Optional[Tuple[str, ...]] = None


# --sizes: which models each setting compares (the windowed ones only where windows matter)
SETTINGS: Dict[int, Setting] = {
    224: Setting((224, 224), 8, ['mmtnt', 'mmtnt_sdpa', 'mmtnt_manual', 'mmtnt_compile',
                                 'mmtnt_sdpa_compile', 'mmtnt_manual_compile', 'mmtnt_frozen',
                                 'mmtnt_ptnt', 'timm_tnt', 'timm_tnt_compile',
                                 'timm_tnt_frozen', 'timm_deit', 'mmpretrain_tnt'] +
                 [f'mmtnt_{d}' for d in DEPLOYED]),
    800: Setting((800, 1344), 1,
                 ['mmtnt', 'mmtnt_compile', 'mmtnt_window', 'mmtnt_window_cp', 'mmtnt_ptnt',
                  'timm_tnt', 'timm_deit', 'mmpretrain_tnt', 'retinanet', 'retinanet_compile'] +
                 [f'{m}_{d}' for m in ('mmtnt', 'retinanet') for d in DEPLOYED]),
    # UperNet-TNT-S on crops of its sliding-window test (512x512), PyTorch and deployed; a
    # batch of 2, as its config's per-GPU batch (the training step's BatchNorm needs more than
    # one value per channel after the pyramid pooling's 1x1 scale)
    512: Setting((512, 512), 2, ['upernet'] + [f'upernet_{d}' for d in DEPLOYED]),
    # the toy configs' models (128x128 images), PyTorch and deployed
    128: Setting((128, 128), 8, [f'{m}{d}' for m in ('retinanet_toy', 'upernet_toy')
                                 for d in [''] + [f'_{r}' for r in DEPLOYED]]),
}
# --quick (seconds, one repeat, tiny inputs; --models does not apply)
QUICK_SETTINGS: List[Setting] = [
    # memory of mmtnt and timm only (their ratio): each is a subprocess of its own
    Setting((64, 96), 2, ['mmtnt', 'mmtnt_ptnt', 'timm_tnt'], memory=('mmtnt', 'timm_tnt')),
    # a whole (toy) detector, and deployed: OpenVINO fp32 / bf16 / int8 (the ONNX Runtime rows
    # go through the same code); those this machine cannot run are skipped
    Setting((64, 64), 2, [f'retinanet_toy{d}' for d in ('', '_ov', '_ov_int8', '_ov_bf16')],
            memory=()),
]

# --attention: TNT-S's attention at 224, batch 8, as (B, heads, tokens, head_dim): what
# fused_attn='auto' picks
ATTENTION_SHAPES = {'inner (16 words)': (8 * 196, 4, 16, 6),
                    'outer (197 patches)': (8, 6, 197, 64)}
