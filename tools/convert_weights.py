"""Convert a TNT checkpoint (official, timm current / legacy, mmpretrain) to mmtnt's layout.

    python tools/convert_weights.py SRC DST [--trust-checkpoint]

SRC is a local file, an http(s) URL or a ``hf-hub:owner/name`` id (``.pth``, ``.pth.tar`` or
``.safetensors``), read through mmtnt's safe loading. DST holds ``state_dict`` (mmtnt keys, no
classifier head) and ``meta`` (the source and its layout); it loads with safe loading and needs no
conversion: ``init_cfg=dict(type='Pretrained', checkpoint=DST)``. Legacy layouts (timm legacy,
mmpretrain) need ``TNTBackbone(legacy=True)``.
"""
import argparse

import torch
from mmengine.logging import print_log

from mmtnt import UnsafeCheckpointError, load_checkpoint_safely
from mmtnt.checkpoint.convert import LEGACY_LAYOUTS, convert_tnt_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description='Convert a TNT checkpoint to mmtnt keys')
    parser.add_argument('src', help='source checkpoint: path, http(s) URL or hf-hub:owner/name')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle arbitrary objects; only for files from a source you trust '
                        '(the output then holds tensors only)')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        ckpt = load_checkpoint_safely(args.src, 'cpu', trust=args.trust_checkpoint)
    except UnsafeCheckpointError as e:
        raise SystemExit(str(e))
    result = convert_tnt_checkpoint(ckpt)
    torch.save(dict(state_dict=result.state_dict,
                    meta=dict(source=args.src, source_layout=result.layout)), args.dst)
    print_log(f'{args.src}: {result.layout} layout -> {args.dst} ({len(result.state_dict)} '
              f'tensors)', logger='current')
    print_log(f'dropped (classifier / outside the backbone): {result.dropped or "none"}',
              logger='current')
    if result.unmapped:
        print_log(f'UNMAPPED keys (not in the output): {result.unmapped}', logger='current',
                  level=30)
    if result.layout in LEGACY_LAYOUTS:
        print_log('legacy TNT weights: build TNTBackbone(legacy=True) to load them.',
                  logger='current')


if __name__ == '__main__':
    main()
