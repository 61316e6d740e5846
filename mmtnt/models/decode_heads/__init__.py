from mmengine.logging import print_log

try:
    from .trans2seg_head import Trans2SegHead
except ImportError as e:
    # MMSegmentation imports mmcv's compiled ops; without them (mmcv-lite) no segmentor builds
    print_log(f'mmtnt: Trans2SegHead not registered ({e}); install mmcv with its compiled ops '
              f'(bash tools/setup_env.sh) to train segmentors.', logger='current', level=30)
    __all__ = []
else:
    __all__ = ['Trans2SegHead']
