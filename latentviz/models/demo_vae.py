"""The built-in demo model: a small convolutional VAE for ``builtin:shapes``, and its trainer.

``DemoVAE.encode(x) -> (mu, logvar)``, ``decode(z) -> images in [0, 1]``. Trained as a β-VAE
(β = 2) so that some latent dimensions line up with the shapes' factors and others collapse —
a model worth looking at.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

DEMO_DATA = "builtin:shapes?size=32&scales=4&rotations=8&positions=8"
DEMO_CONFIG = {
    "latent_dim": 8,
    "image_size": 32,
    "channels": 1,
    "beta": 2.0,
    "epochs": 24,
    "batch_size": 128,
    "lr": 2e-3,
    "seed": 0,
    "data": DEMO_DATA,
}


class DemoVAE(nn.Module):
    """Three stride-2 convolutions down to 4×4, a linear layer to (mu, logvar), and the mirror image."""

    def __init__(self, latent_dim: int = 8, image_size: int = 32, channels: int = 1, width: int = 32):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8; got {image_size}")
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        side = image_size // 8
        self.encoder_net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * side * side, 128),
            nn.ReLU(),
        )
        self.to_stats = nn.Linear(128, 2 * latent_dim)
        self.decoder_net = nn.Sequential(
            nn.Linear(latent_dim, 128),
            nn.ReLU(),
            nn.Linear(128, 2 * width * side * side),
            nn.ReLU(),
            nn.Unflatten(1, (2 * width, side, side)),
            nn.ConvTranspose2d(2 * width, 2 * width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.to_stats(self.encoder_net(x)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder_net(z))

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latentviz"


def demo_checkpoint(*, quiet: bool = False, retrain: bool = False) -> tuple[Path, dict]:
    """Path of the trained demo VAE's state dict (trained once, then cached) and its factory kwargs."""
    key = hashlib.sha256(json.dumps(DEMO_CONFIG, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"demo-vae-{key}.pt"
    kwargs = {k: DEMO_CONFIG[k] for k in ("latent_dim", "image_size", "channels")}
    if path.exists() and not retrain:
        return path, kwargs
    state = train_demo_vae(quiet=quiet).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path, kwargs


def train_demo_vae(*, quiet: bool = False, config: dict | None = None) -> DemoVAE:
    """Train the demo β-VAE on the demo shapes grid (about a minute on 2 CPU cores)."""
    from latentviz.data import open_source
    from latentviz.progress import progress, say

    cfg = {**DEMO_CONFIG, **(config or {})}
    torch.manual_seed(cfg["seed"])
    source = open_source(cfg["data"])
    images = source.read(0, len(source)).x  # 6,144 small images: fine to hold for training
    model = DemoVAE(cfg["latent_dim"], cfg["image_size"], cfg["channels"])
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    started = time.perf_counter()
    steps = cfg["epochs"] * ((len(images) + cfg["batch_size"] - 1) // cfg["batch_size"])
    with progress(total=steps, desc="train demo VAE", unit="step", quiet=quiet) as bar:
        for _epoch in range(cfg["epochs"]):
            order = torch.randperm(len(images), generator=gen)
            for batch in order.split(cfg["batch_size"]):
                x = images[batch]
                mu, logvar = model.encode(x)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                logits = model.decoder_net(z)
                recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
                kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum() / len(x)
                loss = recon + cfg["beta"] * kl
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.1f}", kl=f"{kl.item():.1f}")
    say(f"trained the demo VAE in {time.perf_counter() - started:.0f} s (final loss {loss.item():.1f})", quiet=quiet)
    return model.eval()
