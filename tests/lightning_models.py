"""A tiny LightningModule for the real-Trainer checkpoint test (its own file: importing lightning is slow)."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn


class LitEncoder(L.LightningModule):
    """An autoencoder trained a couple of steps; ``encode`` is what latentviz must reproduce."""

    def __init__(self, n_features: int = 6, latent_dim: int = 3, lr: float = 0.1):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Linear(n_features, 8), nn.Tanh(), nn.Linear(8, latent_dim))
        self.decoder = nn.Linear(latent_dim, n_features)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def training_step(self, batch, _index):
        (x,) = batch
        return nn.functional.mse_loss(self.decode(self.encode(x)), x)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
