# RetinaNet + TNT-S + FPN, COCO 1x: configs/tnt/retinanet_tnt-s_fpn_1x_coco.py as it is.
_base_ = './tnt/retinanet_tnt-s_fpn_1x_coco.py'
