from .layer_decay import TNTLayerDecayOptimizerConstructor, tnt_layer_id

__all__ = ['TNTLayerDecayOptimizerConstructor', 'tnt_layer_id']
