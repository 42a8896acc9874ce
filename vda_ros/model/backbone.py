"""DINOv2 vision transformer, laid out so the official `pretrained.*` checkpoint keys load unchanged."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import NOMINAL_GRID, PATCH_SIZE, EncoderConfig


class PatchEmbed(nn.Module):
    """Non-overlapping 14×14 patches → tokens (row-major over the patch grid)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)

    def forward(self, x: Tensor) -> Tensor:
        patches: Tensor = self.proj(x)
        return patches.flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with fused SDPA (same maths as the official q·scale·kᵀ path)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv: Tensor = self.qkv(x)
        qkv = qkv.reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        projected: Tensor = self.proj(out.transpose(1, 2).reshape(b, n, c))
        return projected


class Mlp(nn.Module):
    """Two-layer MLP with exact (erf) GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.fc2(self.act(self.fc1(x)))
        return out


class LayerScale(nn.Module):
    """Per-channel residual scaling; the parameter is called `gamma` in the checkpoints."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with layer scale."""

    def __init__(self, dim: int, num_heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)
        self.ls2 = LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        mixed: Tensor = self.ls2(self.mlp(self.norm2(x)))
        return x + mixed


class DinoVisionTransformer(nn.Module):
    """DINOv2 backbone returning the normed patch tokens of the four blocks the DPT head reads."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.taken_blocks = cfg.taken_blocks
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + NOMINAL_GRID * NOMINAL_GRID, dim))
        # Present in the released checkpoints (strict loading needs it) but never used at inference.
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.ModuleList(Block(dim, cfg.num_heads, cfg.mlp_hidden) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self._pos_cache: dict[tuple[int, int], Tensor] = {}
        # torch leaves this registrar unannotated (no types to check the call against).
        self.register_load_state_dict_post_hook(  # type: ignore[no-untyped-call]
            lambda module, _keys: module._pos_cache.clear()
        )

    def interpolated_pos_embed(self, ph: int, pw: int) -> Tensor:
        """Positional embedding for a ph×pw patch grid, cached per grid because it is the same every frame.

        DINOv2 resizes the 37×37 table with bicubic *scale factors* (p + 0.1)/37 rather than a target size;
        the sampling positions follow the factor, so a size-based resize would give different numbers.
        """
        key = (ph, pw)
        cached = self._pos_cache.get(key)
        if cached is not None and cached.device == self.pos_embed.device:
            return cached
        pos = self.pos_embed.detach().float()
        if ph * pw == NOMINAL_GRID * NOMINAL_GRID and ph == pw:
            table = pos
        else:
            dim = pos.shape[-1]
            grid = pos[:, 1:].reshape(1, NOMINAL_GRID, NOMINAL_GRID, dim).permute(0, 3, 1, 2)
            grid = F.interpolate(
                grid,
                scale_factor=((ph + 0.1) / NOMINAL_GRID, (pw + 0.1) / NOMINAL_GRID),
                mode="bicubic",
                align_corners=False,
            )
            table = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, ph * pw, dim)], dim=1)
        self._pos_cache[key] = table
        return table

    def forward(self, x: Tensor) -> list[Tensor]:
        """Images (N, 3, H, W) → four (N, ph·pw, D) token maps, each through the final norm."""
        # Plain ints (also under tracing): the grid is a constant of an exported graph.
        ph, pw = int(x.shape[-2]) // PATCH_SIZE, int(x.shape[-1]) // PATCH_SIZE
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], dim=1)
        tokens = tokens + self.interpolated_pos_embed(ph, pw).to(tokens.dtype)
        outputs = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in self.taken_blocks:
                outputs.append(self.norm(tokens)[:, 1:])
        return outputs
