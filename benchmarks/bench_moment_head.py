"""Should the 2D moment-map head compute only its valid cells? Measure it.

    python benchmarks/bench_moment_head.py [--rounds 7] [--threads 1]

:class:`grounding.models.localization.MomentMapHead` runs dense convolutions over the whole
``(N, N)`` map and zeroes the ``j < i`` cells after each one: about half the cells
(``N (N - 1) / 2`` of ``N^2``) are computed and thrown away. The candidate here computes the
valid cells alone with the same weights: the 1x1 projection on the valid cells' pooled
features, each kxk convolution as ``unfold`` (im2col) -> keep the valid columns -> one matmul,
the 1x1 score on the valid cells. It checks that both give the same logits, then times a
train step of the head (forward, backward) for each, alternating round by round in this
process, at the reference profile's head (64 channels, 3 layers, 3x3, batch 32) for Charades
(N = 16) and ActivityNet (N = 64). Prints the medians and their ratio; nothing is read from
earlier runs.
"""

from __future__ import annotations

from grounding.runtime import prefer_passive_omp

if __name__ == "__main__":  # before torch is loaded
    prefer_passive_omp()

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from tabulate import tabulate

from grounding.models.localization import MomentMapHead, build_moment_map, valid_moment_mask


def valid_cells_logits(head: MomentMapHead, clips: torch.Tensor, sentence: torch.Tensor):
    """``head``'s logits ``(B, N, N)`` computed on the valid cells only (dropout off)."""
    b, n, _ = clips.shape
    idx = valid_moment_mask(n).flatten().nonzero().squeeze(1)  # (V,)
    pooled = build_moment_map(clips, pooling=head.pooling).flatten(2)[:, :, idx]  # (B, D, V)
    proj = head.map_proj.weight.flatten(1)  # (H, D)
    x = torch.matmul(proj, pooled) + head.map_proj.bias[:, None]  # (B, H, V)
    x = F.normalize(x * head.text_proj(sentence)[:, :, None], dim=1)
    for conv in head.convs:
        k = conv.kernel_size[0]
        dense = x.new_zeros(b, x.shape[1], n * n).index_copy(2, idx, x).view(b, -1, n, n)
        cols = F.unfold(dense, k, padding=k // 2)[:, :, idx]  # (B, H k k, V)
        x = F.relu(torch.matmul(conv.weight.flatten(1), cols) + conv.bias[:, None])
    score = torch.matmul(head.score.weight.flatten(1), x).squeeze(1) + head.score.bias
    out = score.new_full((b, n * n), float("-inf")).index_copy(1, idx, score)
    return out.view(b, n, n)


def step_seconds(fn, clips: torch.Tensor, sentence: torch.Tensor) -> float:
    """One forward + backward of ``fn`` (the finite logits summed)."""
    t0 = time.perf_counter()
    logits = fn(clips, sentence)
    logits[torch.isfinite(logits)].sum().backward()
    return time.perf_counter() - t0


def measure(n: int, *, batch: int, dim: int, hidden: int, layers: int, rounds: int) -> dict:
    torch.manual_seed(0)
    head = MomentMapHead(
        clip_dim=dim, text_dim=384, hidden=hidden, num_layers=layers, kernel_size=3
    ).eval()  # dropout off: both paths see the same activations
    clips = torch.randn(batch, n, dim, requires_grad=True)
    sentence = torch.randn(batch, 384)
    with torch.no_grad():
        dense, valid = head(clips, sentence), valid_cells_logits(head, clips, sentence)
    mask = valid_moment_mask(n)
    gap = (dense[:, mask] - valid[:, mask]).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"N={n}: the valid-cells head differs from the dense one by {gap:.2e}")
    variants = {
        "dense (shipped)": head,
        "valid cells only": lambda c, s: valid_cells_logits(head, c, s),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():  # warm-up
        step_seconds(fn, clips, sentence)
    for _ in range(rounds):
        for name, fn in variants.items():
            head.zero_grad(set_to_none=True)
            times[name].append(step_seconds(fn, clips, sentence))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return {"N": n, **med, "gap": gap}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for n in (16, 64):
        r = measure(n, batch=args.batch, dim=256, hidden=64, layers=3, rounds=args.rounds)
        d, v = r["dense (shipped)"], r["valid cells only"]
        rows.append([n, f"{d:.1f}", f"{v:.1f}", f"{d / v:.2f}x", f"{r['gap']:.1e}"])
    print(
        f"moment-map head train step (forward + backward), batch {args.batch}, 64 channels, "
        f"3 layers 3x3, {args.threads} thread(s), median of {args.rounds} rounds:"
    )
    headers = ["N", "dense ms", "valid cells ms", "dense / valid", "max |logit diff|"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
