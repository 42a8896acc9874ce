"""Temporal modules: attention across frames at every pixel, with a key/value cache for streaming.

Two ways to attend, with the same parameters:
- a whole window of T frames at once (offline, and the first streaming frame): frame t sits at position t;
- one new frame against 31 past frames held in a fixed-size slot cache (streaming).

The cache holds each past frame's *projected* keys and values, W_k·u and W_v·u, not the normed input u.
The maps are bias-free and the positional encoding is added before them, so the key of a cached frame at
window position p is W_k·u + W_k·pe[p]: the cached projection plus a row of a 32-entry table. A frame is
therefore projected once, when it arrives, instead of at every one of the 32 steps it stays in the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .clip_window import ClipWindows
from .config import NUM_FRAMES, TEMPORAL_HEADS


@dataclass
class StreamWindow:
    """Which cache slots the 31 past window positions read, and where the new frame goes, for one step.

    `onehot[p, s]` is 1 where position p reads slot s; a frame that fills several positions (the first frame
    early in a stream) is stored once and read through several rows.
    """

    onehot: Tensor
    write_slot: int


@dataclass
class KVCache:
    """Preallocated per-attention-block key/value slots for one stream; zeroed so unused slots stay finite."""

    num_slots: int
    keys: dict[int, Tensor] = field(default_factory=dict)
    values: dict[int, Tensor] = field(default_factory=dict)
    window: StreamWindow | None = None

    def buffers(self, block: int, like: Tensor) -> tuple[Tensor, Tensor]:
        """The (N, heads, slots, head_dim) buffers of one block, allocated on first use."""
        if block not in self.keys:
            n, heads, _, dim = like.shape
            shape = (n, heads, self.num_slots, dim)
            self.keys[block] = torch.zeros(shape, dtype=like.dtype, device=like.device)
            self.values[block] = torch.zeros(shape, dtype=like.dtype, device=like.device)
        return self.keys[block], self.values[block]

    def store(self, block: int, k_new: Tensor, v_new: Tensor, slot: int) -> None:
        """Keep the new frame's projections in its slot (called after the block has read the old occupant)."""
        keys, values = self.buffers(block, k_new)
        keys[:, :, slot] = k_new[:, :, 0]
        values[:, :, slot] = v_new[:, :, 0]


@dataclass
class StreamBatch:
    """The caches of B independent streams run in one forward pass, in batch order.

    Everything but the cached attention is per-pixel or per-frame, so the streams share the batch there;
    each stream attends to its own slots through its own window (or, on its first frame, to itself alone).
    """

    caches: list[KVCache]


@dataclass
class ExplicitKVCache(KVCache):
    """A cache whose buffers are given and whose new entries are returned, not written.

    An exported step (ONNX, TensorRT) cannot update its inputs in place: the runtime around it owns the
    slots and writes the returned entries itself.
    """

    new_entries: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)

    def store(self, block: int, k_new: Tensor, v_new: Tensor, slot: int) -> None:
        self.new_entries[block] = (k_new, v_new)


def sinusoidal_table(length: int, channels: int) -> Tensor:
    """Absolute sinusoidal encoding: column 2i = sin(p·ω_i), 2i+1 = cos(p·ω_i), ω_i = 10000^(−2i/C)."""
    position = torch.arange(length).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, channels, 2) * (-math.log(10000.0) / channels))
    table = torch.zeros(1, length, channels)
    table[0, :, 0::2] = torch.sin(position * frequency)
    table[0, :, 1::2] = torch.cos(position * frequency)
    return table


class PositionalEncoding(nn.Module):
    """Holds the `pe` buffer the checkpoints store (loaded, not recomputed, so values match bit for bit)."""

    pe: Tensor  # a registered buffer (nn.Module's attribute lookup alone would type it Tensor | Module)

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(NUM_FRAMES, channels))


class TemporalAttention(nn.Module):
    """Multi-head attention along the frame axis at each spatial position."""

    def __init__(self, channels: int, block_index: int) -> None:
        super().__init__()
        self.block_index = block_index
        self.heads = TEMPORAL_HEADS
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(channels, channels, bias=False)
        self.to_v = nn.Linear(channels, channels, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])
        self.pos_encoder = PositionalEncoding(channels)

    def _split(self, x: Tensor) -> Tensor:
        """(N, T, C) → (N, heads, T, C/heads)."""
        n, t, c = x.shape
        return x.view(n, t, self.heads, c // self.heads).transpose(1, 2)

    def _merge(self, x: Tensor) -> Tensor:
        n, h, t, d = x.shape
        return x.transpose(1, 2).reshape(n, t, h * d)

    def forward(self, u: Tensor, num_frames: int, cache: KVCache | StreamBatch | ClipWindows | None = None) -> Tensor:
        """Tokens (B·T, hw, C) → attended tokens (B·T, hw, C).

        `cache` selects the streaming path (T = 1; a StreamBatch for several streams at once); ClipWindows the
        whole-clip streaming forward of training.
        """
        bt, hw, c = u.shape
        seq = u.view(bt // num_frames, num_frames, hw, c).transpose(1, 2).reshape(-1, num_frames, c)
        pe = self.pos_encoder.pe.to(seq.dtype)
        if isinstance(cache, ClipWindows):
            out = cache.attend(self, seq)
        elif isinstance(cache, StreamBatch):
            # Rows are stream-major (B·hw): stream i owns rows i·hw ... (i + 1)·hw − 1.
            parts = seq.chunk(len(cache.caches))
            out = torch.cat([self._attend(part, pe, one) for part, one in zip(parts, cache.caches, strict=True)])
        else:
            out = self._attend(seq, pe, cache)
        merged: Tensor = self.to_out[0](self._merge(out))
        return merged.view(-1, hw, num_frames, c).transpose(1, 2).reshape(bt, hw, c)

    def _attend(self, seq: Tensor, pe: Tensor, cache: KVCache | None) -> Tensor:
        """(N, T, C) → (N, heads, T, C/heads) for one stream (or a whole offline window without cache)."""
        if cache is not None and cache.window is not None:
            return self._attend_cached(seq, pe[0], cache)
        x = seq + pe[:, : seq.shape[1]]
        out = F.scaled_dot_product_attention(
            self._split(self.to_q(x)), self._split(self.to_k(x)), self._split(self.to_v(x))
        )
        if cache is not None:
            cache.store(self.block_index, *self._project_new(seq), slot=0)
        return out

    def _project_new(self, seq: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of the new frame without its positional term: what the cache keeps."""
        return self._split(self.to_k(seq)), self._split(self.to_v(seq))

    def _attend_cached(self, seq: Tensor, pe: Tensor, cache: KVCache) -> Tensor:
        """One query frame at position 31 against 31 cached frames at positions 0..30.

        Logits are computed once per *slot* and then spread to positions through the one-hot map, so the cache
        is read in place (no gather or concatenation of past states); the positional terms come from the small
        projected tables W_k·pe and W_v·pe. With one query the per-slot products are plain multiply-and-sum
        reductions, which run far better than thousands of 1-row batched matrix products.
        """
        window = cache.window
        assert window is not None
        last = NUM_FRAMES - 1
        q = self._split(self.to_q(seq + pe[last]))[:, :, 0]
        pe_k = self._split(self.to_k(pe).unsqueeze(0))[0]
        pe_v = self._split(self.to_v(pe).unsqueeze(0))[0]
        k_new, v_new = self._project_new(seq)
        keys, values = cache.buffers(self.block_index, k_new)
        onehot = window.onehot.to(q.dtype)
        past = (q.unsqueeze(2) * keys).sum(-1) @ onehot.t() + torch.einsum("nhd,hpd->nhp", q, pe_k[:, :last])
        current = (q * (k_new[:, :, 0] + pe_k[:, last])).sum(-1, keepdim=True)
        weights = torch.softmax(torch.cat([past, current], dim=-1) * q.shape[-1] ** -0.5, dim=-1)
        past_w = weights[..., :last]
        out = (
            ((past_w @ onehot).unsqueeze(-1) * values).sum(-2)
            + torch.einsum("nhp,hpd->nhd", past_w, pe_v[:, :last])
            + weights[..., last:] * (v_new[:, :, 0] + pe_v[:, last])
        )
        cache.store(self.block_index, k_new, v_new, window.write_slot)
        return out.unsqueeze(2)


class GEGLU(nn.Module):
    """Linear to 2×hidden, then value ⊙ GELU(gate)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(channels, 2 * hidden)

    def forward(self, x: Tensor) -> Tensor:
        projected: Tensor = self.proj(x)
        value, gate = projected.chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU feed-forward; `net` indices (0 GEGLU, 1 dropout, 2 linear) follow the checkpoint keys."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.ModuleList([GEGLU(channels, 4 * channels), nn.Identity(), nn.Linear(4 * channels, channels)])

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TemporalTransformerBlock(nn.Module):
    """Two temporal attention blocks and a feed-forward, each pre-normed with a residual."""

    def __init__(self, channels: int, first_block_index: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList(TemporalAttention(channels, first_block_index + i) for i in range(2))
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(2))
        self.ff = FeedForward(channels)
        self.ff_norm = nn.LayerNorm(channels)

    def forward(self, z: Tensor, num_frames: int, cache: KVCache | StreamBatch | None) -> Tensor:
        for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
            z = z + attention(norm(z), num_frames, cache)
        fed: Tensor = self.ff(self.ff_norm(z))
        return z + fed


class TemporalTransformer(nn.Module):
    """GroupNorm → proj_in → transformer block → proj_out, residual around the whole module."""

    def __init__(self, channels: int, first_block_index: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, first_block_index)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: Tensor, num_frames: int, cache: KVCache | StreamBatch | None) -> Tensor:
        bt, c, h, w = x.shape
        z = self.proj_in(self.norm(x).flatten(2).transpose(1, 2))
        for block in self.transformer_blocks:
            z = block(z, num_frames, cache)
        out: Tensor = self.proj_out(z)
        return out.transpose(1, 2).reshape(bt, c, h, w) + x


class TemporalModule(nn.Module):
    """Wrapper whose only job is the `temporal_transformer` level of the checkpoint key names."""

    def __init__(self, channels: int, first_block_index: int) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer(channels, first_block_index)

    def forward(self, x: Tensor, num_frames: int, cache: KVCache | StreamBatch | None = None) -> Tensor:
        """Feature maps (B·T, C, h, w), frame index fastest within a batch item."""
        out: Tensor = self.temporal_transformer(x, num_frames, cache)
        return out
