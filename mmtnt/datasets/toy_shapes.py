"""A small, deterministic shapes dataset in COCO and ADE20K formats, generated on first use.

Images show circles, squares and triangles of random colour and size on textured backgrounds.
Detection gets COCO json (boxes + polygon masks); segmentation gets ADE20K-style single-channel
label PNGs where 0 is "ignore" (reduce_zero_label), 1 is background and 2.. are the shapes.
Generation writes into a temporary folder and renames it into place, so concurrent processes
(distributed training) never see half-written data.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict

import cv2
import numpy as np

CLASSES = ('circle', 'square', 'triangle')
SEG_CLASSES = ('background', ) + CLASSES
DEFAULT_SPLITS = dict(train=400, val=100)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Low-contrast texture: a colour gradient, blurred noise and a few thin lines."""
    c0, c1 = rng.uniform(40, 200, 3), rng.uniform(40, 200, 3)
    t = np.linspace(0, 1, size)[:, None, None]
    img = c0 * (1 - t) + c1 * t
    img = np.broadcast_to(img, (size, size, 3)).copy()
    if rng.random() < 0.5:
        img = img.transpose(1, 0, 2).copy()
    noise = cv2.GaussianBlur(rng.normal(0, 25, (size, size, 3)), (0, 0), rng.uniform(1, 4))
    img = img + noise
    for _ in range(rng.integers(0, 4)):
        p0, p1 = rng.integers(0, size, 2), rng.integers(0, size, 2)
        colour = tuple(float(c) for c in rng.uniform(40, 200, 3))
        cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, 1)
    return img


def _shape_polygon(rng: np.random.Generator, label: int, cx: float, cy: float,
                   r: float) -> np.ndarray:
    """Polygon (K, 2) of a shape centred at (cx, cy) with circumradius r."""
    if CLASSES[label] == 'circle':
        angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    elif CLASSES[label] == 'square':
        angles = rng.uniform(0, np.pi / 2) + np.arange(4) * np.pi / 2
    else:
        angles = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
    return np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1)


def _make_image(rng: np.random.Generator, size: int, max_objects: int):
    img = _background(rng, size)
    seg = np.ones((size, size), np.uint8)  # 1 = background
    objects = []
    for _ in range(rng.integers(1, max_objects + 1)):
        label = int(rng.integers(len(CLASSES)))
        r = rng.uniform(0.08, 0.2) * size
        cx, cy = rng.uniform(r, size - r, 2)
        poly = _shape_polygon(rng, label, cx, cy, r)
        pts = np.round(poly).astype(np.int32)
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [pts], 1)
        colour = rng.uniform(0, 255, 3)
        colour[rng.integers(3)] = rng.choice([0., 255.])  # saturated: stands out of the texture
        img[mask.astype(bool)] = colour
        seg[mask.astype(bool)] = label + 2
        for other in objects:  # later shapes occlude earlier ones
            other['mask'][mask.astype(bool)] = 0
        objects.append(dict(label=label, poly=pts, mask=mask))
    # keep objects that are still mostly visible; a heavily occluded one becomes ignore in seg
    visible = []
    for obj in objects:
        area = int(obj['mask'].sum())
        full = cv2.contourArea(obj['poly'].astype(np.float32))
        if area >= 0.6 * max(full, 1):
            visible.append(obj)
        else:
            seg[obj['mask'].astype(bool)] = 0
    return np.clip(img, 0, 255).astype(np.uint8), seg, visible


def _coco_annotation(obj: Dict, ann_id: int, image_id: int) -> Dict:
    contours, _ = cv2.findContours(obj['mask'], cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    x, y, w, h = cv2.boundingRect(obj['mask'])
    return dict(id=ann_id, image_id=image_id, category_id=obj['label'] + 1,
                bbox=[float(x), float(y), float(w), float(h)], area=float(obj['mask'].sum()),
                segmentation=polys, iscrowd=0)


def _generate(root: str, splits: Dict[str, int], size: int, max_objects: int, seed: int) -> None:
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)]
    for split, count in splits.items():
        rng = np.random.default_rng([seed, sum(map(ord, split))])
        for sub in (f'coco/{split}', f'ade/images/{split}', f'ade/annotations/{split}'):
            os.makedirs(osp.join(root, sub), exist_ok=True)
        images, annotations = [], []
        for idx in range(count):
            img, seg, objs = _make_image(rng, size, max_objects)
            name = f'{split}_{idx:05d}'
            cv2.imwrite(osp.join(root, 'coco', split, name + '.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(osp.join(root, 'ade', 'images', split, name + '.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(osp.join(root, 'ade', 'annotations', split, name + '.png'), seg)
            images.append(dict(id=idx + 1, file_name=name + '.jpg', height=size, width=size))
            for obj in objs:
                annotations.append(_coco_annotation(obj, len(annotations) + 1, idx + 1))
        with open(osp.join(root, 'coco', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(info=dict(description='mmtnt toy shapes', version=str(seed)), licenses=[],
                           images=images, annotations=annotations, categories=categories), f)


def ensure_toy_shapes(root: str = 'data/toy_shapes',
                      splits: Dict[str, int] = None,
                      size: int = 128,
                      max_objects: int = 4,
                      seed: int = 0) -> str:
    """Generate the toy dataset under ``root`` unless it is already there; return ``root``.

    Layout: ``coco/{split}/*.jpg`` + ``coco/instances_{split}.json`` (categories 1..3) and
    ``ade/images/{split}/*.jpg`` + ``ade/annotations/{split}/*.png``.
    """
    splits = dict(splits or DEFAULT_SPLITS)
    stamp = osp.join(root, 'toy_shapes.json')
    settings = dict(splits=splits, size=size, max_objects=max_objects, seed=seed, version=2)
    if osp.exists(stamp):
        with open(stamp) as f:
            existing = json.load(f)
        if existing == settings:
            return root
        raise ValueError(f'{root} holds toy data generated with {existing}, not {settings}; '
                         f'delete {root} or point the config at another folder.')
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.toy_shapes_', dir=parent)
    try:
        _generate(tmp, splits, size, max_objects, seed)
        with open(osp.join(tmp, 'toy_shapes.json'), 'w') as f:
            json.dump(settings, f)
        try:
            os.rename(tmp, root)
        except OSError:  # another process finished first; its data is identical
            if not osp.exists(stamp):
                raise
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp)
    return root
