# TNT-S (Han et al. 2021): 12 blocks, 384-wide patch tokens and 24-wide pixel-level tokens (4x4
# visual words of each 16x16 patch). The backbone every TNT-S model base and config inherits, as
#   backbone=dict(_base_.tnt_s_backbone, _delete_=True, out_indices=..., pixel_out_indices=...)
# with the blocks it returns (patch maps at stride 16) and, where they are used, the blocks whose
# stride-4 pixel tokens it returns too. It holds no `model`: mmengine allows a key in one base only,
# so a model base inherits this file beside MMDetection's / MMSegmentation's own model base.
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

tnt_dims = 384  # TNT-S widths (patch / pixel tokens): every neck / head channel count follows
tnt_inner_dims = 24

tnt_s_backbone = dict(
    type='TNTBackbone',
    arch='s',
    out_indices=(11, ),  # the last block
    final_norm=True,
    drop_path_rate=0.1)

# The official ImageNet-1k TNT-S weights (81.5 top-1; docs/user_guides/weights.md): the full
# configs start from them (downloaded once into the torch.hub cache, read with safe loading)
tnt_s_imagenet = 'https://github.com/huawei-noah/Efficient-AI-Backbones/releases/download/tnt/tnt_s_81.5.pth.tar'  # noqa: E501
