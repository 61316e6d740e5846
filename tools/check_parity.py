"""Measure mmtnt's numerical parity with timm's TNT, with the same (random) weights.

    python tools/check_parity.py [--arch s] [--size 224] [--batch 2]

Prints the largest absolute difference of every compared output.
"""
import argparse
import tempfile

import timm
import torch
from mmengine.logging import MMLogger

from mmtnt import TNTBackbone

TIMM_MODELS = {('s', False): 'tnt_s_patch16_224', ('b', False): 'tnt_b_patch16_224',
               ('s', True): 'tnt_s_legacy_patch16_224'}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='s', choices=['s', 'b'])
    parser.add_argument('--legacy', action='store_true', help='compare the legacy variant')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    logger = MMLogger.get_instance('mmtnt_parity')
    torch.manual_seed(args.seed)
    name = TIMM_MODELS[(args.arch, args.legacy)]
    ref = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():  # perturb the symmetric default init (unit norms, zero biases)
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = torch.randn(args.batch, 3, 224, 224)
    with tempfile.NamedTemporaryFile(suffix='.pth') as f:
        torch.save(ref.state_dict(), f.name)
        ckpt = dict(type='Pretrained', checkpoint=f.name)
        blocks = TNTBackbone(arch=args.arch, legacy=args.legacy, out_indices=(3, 7, 11),
                             final_norm=False, init_cfg=ckpt)
        normed = TNTBackbone(arch=args.arch, legacy=args.legacy, init_cfg=ckpt)
        blocks.init_weights(), normed.init_weights()
    with torch.no_grad():
        expected = ref.forward_intermediates(x, indices=[3, 7, 11], norm=False,
                                             intermediates_only=True)
        for i, a, b in zip((3, 7, 11), blocks.eval()(x), expected):
            logger.info(f'{name} block {i:2d} map: max |mmtnt - timm| = {(a - b).abs().max():.2e}')
        a = normed.eval()(x)[0].flatten(2).transpose(1, 2)
        b = ref.forward_features(x)[:, 1:]
        logger.info(f'{name} final norm: max |mmtnt - timm forward_features| = '
                    f'{(a - b).abs().max():.2e}')


if __name__ == '__main__':
    main()
