#!/usr/bin/env python3
"""PyTorch CPU peer of benchmarks/speed/engine_bench.ts: the same shapes, the same metrics.

Run by the engine benchmark (or by hand) with Debian's python3-torch:
    /usr/bin/python3 benchmarks/peers/torch_engine.py --threads 2 --reps 5
Prints one JSON object per line: first the peer_info line (peer_info.py: torch version, OpenBLAS
core, CPU capability, threads), then {"name", "shape", "metric", "value", "unit", "measured_at"}.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_info import emit_peer_info, now_iso  # noqa: E402


def best_time(fn, reps):
    fn()  # warm-up
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def emit(name, shape, metric, value, unit):
    print(json.dumps({"name": name, "shape": shape, "metric": metric, "value": value, "unit": unit,
                      "measured_at": now_iso()}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    emit_peer_info()

    gemms = [(512, 2048, 512), (4096, 512, 512), (768 * 97, 512, 1536)]
    if args.quick:
        gemms = [(512, 2048, 512), (4096, 512, 512)]
    for m, k, n in gemms:
        a = torch.randn(m, k)
        b = torch.randn(k, n)
        t = best_time(lambda: torch.mm(a, b), args.reps)
        emit("gemm", f"{m}x{k}x{n}", "gflops", 2 * m * k * n / t / 1e9, "GFLOP/s")
        # linear forward + backward (dx and dW): 3 GEMMs of the same size
        x = torch.randn(m, k, requires_grad=True)
        w = torch.randn(n, k, requires_grad=True)
        g = torch.randn(m, n)

        def step():
            x.grad = None
            w.grad = None
            F.linear(x, w).backward(g)

        t = best_time(step, args.reps)
        emit("linear_fwd_bwd", f"{m}x{k}x{n}", "gflops", 6 * m * k * n / t / 1e9, "GFLOP/s")

    rows, cols = 8192, 512
    x = torch.randn(rows, cols)
    t = best_time(lambda: x * torch.rsqrt(x.square().mean(-1, keepdim=True) + 1e-5), args.reps)
    emit("rmsnorm", f"{rows}x{cols}", "gbps", 2 * rows * cols * 4 / t / 1e9, "GB/s")

    inter = 1536
    gu = torch.randn(rows, 2 * inter)

    def swiglu():
        gate, up = gu.chunk(2, dim=-1)
        return F.silu(gate) * up

    t = best_time(swiglu, args.reps)
    emit("swiglu", f"{rows}x{inter}", "gbps", 3 * rows * inter * 4 / t / 1e9, "GB/s")

    for b, l in ([1, 916], [64, 97]) if not args.quick else ([1, 916],):
        h, d = 8, 64
        q = torch.randn(b, h, l, d)
        k = torch.randn(b, h, l, d)
        v = torch.randn(b, h, l, d)

        def attn():
            s = torch.matmul(q, k.transpose(-1, -2)) * (d ** -0.5)
            return torch.matmul(torch.softmax(s, -1), v)

        t = best_time(attn, args.reps)
        emit("attention_fwd", f"{b}x{l}x{h}x{d}", "gflops", 4 * b * h * l * l * d / t / 1e9, "GFLOP/s")
        qr, kr, vr = (z.clone().requires_grad_() for z in (q, k, v))
        go = torch.randn(b, h, l, d)

        def attn_fb():
            for z in (qr, kr, vr):
                z.grad = None
            s = torch.matmul(qr, kr.transpose(-1, -2)) * (d ** -0.5)
            torch.matmul(torch.softmax(s, -1), vr).backward(go)

        t = best_time(attn_fb, args.reps)
        # forward 2 matmuls + backward 4 (recomputation not counted): 12·b·h·l²·d FLOPs
        emit("attention_fwd_bwd", f"{b}x{l}x{h}x{d}", "gflops", 12 * b * h * l * l * d / t / 1e9, "GFLOP/s")


if __name__ == "__main__":
    main()
