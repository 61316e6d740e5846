"""Convert a TNT checkpoint (official, timm current / legacy, mmpretrain) to mmtnt's layout.

    python tools/convert_weights.py SRC DST [--trust-checkpoint]

DST holds ``state_dict`` (mmtnt keys, no classifier head) and ``meta`` (the source layout).
Loading DST needs no conversion: ``init_cfg=dict(type='Pretrained', checkpoint=DST)``; legacy
layouts (timm legacy, mmpretrain) need ``TNTBackbone(legacy=True)``.
"""
import argparse
import pickle

import torch
from mmengine.logging import print_log

from mmtnt.ckpt_convert import LEGACY_LAYOUTS, convert_tnt_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description='Convert a TNT checkpoint to mmtnt keys')
    parser.add_argument('src', help='source checkpoint')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='unpickle arbitrary objects (e.g. training args in the official '
                        'release); only for files from a source you trust')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        ckpt = torch.load(args.src, map_location='cpu', weights_only=not args.trust_checkpoint)
    except pickle.UnpicklingError as e:
        raise SystemExit(f'{args.src} holds objects beyond tensors, which safe loading refuses '
                         f'({str(e).splitlines()[-1][:200]}). If you trust the file, run again '
                         f'with --trust-checkpoint.')
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
