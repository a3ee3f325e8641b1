"""Modules shaped like the ecosystem's, for tests/test_ecosystem_models.py (torchvision and timm
cannot be installed with the CPU torch here, so these stand in for their layers).

Tests name them by file path, as a user names their own code with ``--model``; each ``make_*``
seeds itself, so two calls give equal weights.
"""

from __future__ import annotations

import torch
from torch import nn


class InplaceClassifier(nn.Module):
    """A classifier whose hooked Linear (``head.1``) is followed by ``ReLU(inplace=True)``, as in torchvision."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8, 5), nn.ReLU(inplace=True), nn.Linear(5, 3))

    def forward(self, x):
        return self.head(self.features(x))


class TinyViT(nn.Module):
    """Patch embedding + cls token + one TransformerEncoderLayer + LayerNorm, on 3x8x8 images (5 tokens of 16)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, width, kernel_size=4, stride=4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, width))
        self.pos_embed = nn.Parameter(torch.randn(1, 5, width) * 0.1)
        self.pre = nn.Identity()  # a layer whose type says nothing about its output's layout
        self.blocks = nn.Sequential(nn.TransformerEncoderLayer(width, 2, 32, dropout=0.0, batch_first=True))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 3)

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(self.pre(tokens)))[:, 0])


class Conv1dEncoder(nn.Module):
    """A 1-d convolution: (channels, positions) outputs, pooled over the positions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, kernel_size=3)

    def forward(self, x):
        return self.conv(x).relu().flatten(1)


class DeepNet(nn.Module):
    """More than 30 layers before ``avgpool`` and ``fc``, the layers people hook."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(6, 6), nn.ReLU())])
        self.avgpool = nn.Identity()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.avgpool(self.layers(x)))


class TinyTimmNet(nn.Module):
    """What the fake ``timm.create_model`` builds in the timm-folder test."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.fc = nn.Linear(6, num_classes)

    def forward(self, x):
        return self.fc(x)


def _seeded(cls):
    def make(**kwargs):
        torch.manual_seed(0)
        return cls(**kwargs)

    make.__name__ = f"make_{cls.__name__}"
    return make


make_InplaceClassifier = _seeded(InplaceClassifier)
make_TinyViT = _seeded(TinyViT)
make_Conv1dEncoder = _seeded(Conv1dEncoder)
make_DeepNet = _seeded(DeepNet)


def tiny_bert(corpus, *, vocab_size: int, hidden_size: int, max_positions: int):
    """A random one-layer BERT and its fast tokenizer, a WordPiece trained on ``corpus`` by the tokenizers library."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")]
    )
    fast = BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=max_positions,
    )
    return fast, BertModel(config)
