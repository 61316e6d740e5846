# PyramidTNT-S (Han et al. 2022): four stages at strides 8 / 16 / 32 / 64. The backbone every
# PyramidTNT-S model base inherits, as
#   backbone=dict(_base_.pyramid_tnt_s_backbone, _delete_=True)
# It holds no `model`: mmengine allows a key in one base only, so a model base inherits this file
# beside MMDetection's / MMSegmentation's own model base.
custom_imports = dict(imports=['mmtnt'], allow_failed_imports=False)

ptnt_dims = [128, 256, 512, 512]  # PyramidTNT-S stage widths: the necks' / heads' inputs follow

pyramid_tnt_s_backbone = dict(
    type='PyramidTNT',
    arch='s',
    out_indices=(0, 1, 2, 3),  # every stage
    final_norm=True,
    drop_path_rate=0.1)
