"""Tiny models, one per encoder output convention, for the checkpoint tests.

Tests name them by file path (``tests/checkpoint_models.py:TupleVAE``), as a user names their own
code with ``--model``; every ``make_*`` function seeds itself, so two calls give equal weights.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

N_FEATURES = 6


class TupleVAE(nn.Module):
    """encode -> (mu, logvar); decode; scriptable (encode/decode exported for TorchScript)."""

    def __init__(self, latent_dim: int = 2, n_features: int = N_FEATURES):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 8), nn.Tanh())
        self.stats = nn.Linear(8, 2 * latent_dim)
        self.out = nn.Linear(latent_dim, n_features)

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.stats(self.body(x)).chunk(2, dim=1)
        return mu, logvar

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])


class TripleVAE(TupleVAE):
    """encode -> (z, mu, logvar) with a sampled z: the latent must be mu."""

    def encode(self, x):
        mu, logvar = super().encode(x)
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar), mu, logvar


class DistributionVAE(TupleVAE):
    """encode -> torch.distributions.Normal."""

    def encode(self, x):
        mu, logvar = super().encode(x)
        return torch.distributions.Normal(mu, torch.exp(0.5 * logvar))


class DictVAE(TupleVAE):
    """encode -> {'z', 'mean', 'std'}: the mean wins over z, std becomes a log variance."""

    def encode(self, x):
        mu, logvar = super().encode(x)
        return {"z": mu + 1.0, "mean": mu, "std": torch.exp(0.5 * logvar)}


class LatentDistVAE(TupleVAE):
    """encode -> an object with ``latent_dist`` (the diffusers convention)."""

    def encode(self, x):
        mu, logvar = super().encode(x)
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=mu, logvar=logvar))


class HiddenStateEncoder(nn.Module):
    """forward -> an object with ``last_hidden_state`` (batch, 2, 3): flattened to 6 with the shape kept."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(N_FEATURES, 6)

    def forward(self, x):
        return SimpleNamespace(last_hidden_state=self.proj(x).reshape(len(x), 2, 3))


class AttributeAutoencoder(nn.Module):
    """``encoder`` and ``decoder`` attributes; forward reconstructs."""

    def __init__(self, latent_dim: int = 3):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 8), nn.ReLU(), nn.Linear(8, N_FEATURES))

    def forward(self, x):
        return self.decoder(self.encoder(x))


class SpatialAutoencoder(nn.Module):
    """Images (1, 6, 6) -> spatial latents (2, 3, 3) -> images."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 2, 2, stride=2)
        self.up = nn.ConvTranspose2d(2, 1, 2, stride=2)

    def encode(self, x):
        return self.down(x)

    def decode(self, z):
        return torch.sigmoid(self.up(z))


class TokenEmbedder(nn.Module):
    """Integer token ids -> the mean of their embeddings."""

    def __init__(self, vocab: int = 20, dim: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)

    def forward(self, ids):
        return self.embed(ids).mean(dim=1)


class Classifier(nn.Module):
    """A classifier whose ``features`` layer is the latent of interest (``--layer features``)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(N_FEATURES, 5), nn.ReLU())
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(self.features(x))


class Generator(nn.Module):
    """Generator-only: forward maps a 3-d latent to an output."""

    def __init__(self, latent_dim: int = 3):
        super().__init__()
        self.net = nn.Linear(latent_dim, N_FEATURES)

    def forward(self, z):
        return torch.tanh(self.net(z))


class ExportedEncoder(TupleVAE):
    """For ``torch.export``: its forward is the encoder (mu only)."""

    def forward(self, x):
        return self.encode(x)[0]


def _seeded(cls):
    def make(**kwargs):
        torch.manual_seed(0)
        return cls(**kwargs).eval()

    make.__name__ = f"make_{cls.__name__}"
    return make


make_TupleVAE = _seeded(TupleVAE)
make_TripleVAE = _seeded(TripleVAE)
make_DistributionVAE = _seeded(DistributionVAE)
make_DictVAE = _seeded(DictVAE)
make_LatentDistVAE = _seeded(LatentDistVAE)
make_HiddenStateEncoder = _seeded(HiddenStateEncoder)
make_AttributeAutoencoder = _seeded(AttributeAutoencoder)
make_SpatialAutoencoder = _seeded(SpatialAutoencoder)
make_TokenEmbedder = _seeded(TokenEmbedder)
make_Classifier = _seeded(Classifier)
make_Generator = _seeded(Generator)
