"""A one-layer mmengine model and its data: the smallest Runner that trains and saves
mmengine checkpoints (optimizer, message hub, numpy values, HistoryBuffers)."""
import torch
import torch.nn as nn
from mmengine.model import BaseModel


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def toy_dataset(n=8):
    return [dict(inputs=torch.randn(2)) for _ in range(n)]
