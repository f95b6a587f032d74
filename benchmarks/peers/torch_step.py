#!/usr/bin/env python3
"""PyTorch training-step time of the TRM models on a GPU (or, tiny, on the CPU): the peer of our
step time in dev/gpu/train_check.ts.

    python benchmarks/peers/torch_step.py [--device cuda|cpu] [--models trm-attn,tr-mamba2attn]
        [--batch 192] [--dtypes bf16,f32] [--compile] [--warmup N] [--reps 3] [--budget 300]
        [--attn auto|sdpa|math] [--mamba2-chunk 64] [--micro-batches M] [--recompute] [--tiny]
        [--threads N]

One training step is what our Trainer.trainStep does (recursion/trainer.ts), at ARC shapes and
paper width (hidden 512, 8 heads, expansion 4, paper Mamba-2; L = 900 + 16 prefix, V = 12, T = 3,
n = 4; `--tiny` shrinks all of it for a CPU smoke test): one ACT supervision step — T−1 recursion
cycles without gradient and one with, heads, stable-max CE + halting BCE in float64 — backward of
total / B, then the optimisers: an AdamATan2-like update of every weight, sign-SGD on the batch's
puzzle-embedding row and the EMA of the weights, and a host read of the losses (our step reads
them too). The carry starts from H_init/L_init every step (the same work as a carried state).

The model is torch_trm.py's (the peer checked against our engine by recursion/golden_test.ts),
with two GPU-minded choices, both recorded in every line: attention through
F.scaled_dot_product_attention (flash / memory-efficient kernels; `--attn math` uses the explicit
softmax of torch_ops.py) and Mamba-2's SSD in the chunked matmul form of torch_ops.ssd_chunked
(chunk `--mamba2-chunk`; no mamba_ssm / Triton kernels offline).

`--dtypes`: `f32` (TF32 off: the reference precision of our f32 mode) and/or `bf16` (autocast to
bf16 for matmuls and convolutions; weights, optimiser state and the loss stay f32 / f64).
`--micro-batches M` and `--recompute`: the memory plans of our Trainer (recursion/trainer.ts
MemoryPlan), so both sides run the same batch the same way: the batch in M contiguous slices, each
forward + backward of total / B with gradients accumulating, the puzzle rows' gradients gathered
before the sign update, one optimiser step; `--recompute` wraps each recursion call with gradient
in torch.utils.checkpoint (non-reentrant).
`--compile`: the recursion's `net` (the block stack called T·(n+1) times per step) through
torch.compile; if torch.compile is missing or fails, the step runs eager and the line says why
(`compile_note`). Each (model, dtype) runs `--warmup` untimed steps (default 1, 2 with --compile),
then up to `--reps` timed steps within `--budget` seconds; a CUDA out-of-memory is reported as a
line with "error": "oom" and the next measurement goes on.

Output: JSON lines — a header {"name": "torch_step", ...} with versions and the device, then one
line per (model, dtype) measurement with seconds (median of the timed steps), all times, the warm-up
time, FLOPs (torch_trm.step_flops convention), peak memory and the settings.
"""
import argparse
import gc
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ops as ops  # noqa: E402
import torch_trm as trm  # noqa: E402

PREFIX = trm.PREFIX


def arc_config(model, tiny, chunk):
    """ARC shapes at paper width (or the tiny smoke-test shapes)."""
    if tiny:
        cfg = {"vocab": 12, "seq_len": 30, "hidden": 64, "heads": 2, "h_cycles": 2, "l_cycles": 2, "rope": True,
               "expansion": 4, "mamba": {"d_state": 16, "d_conv": 4, "expand": 2, "headdim": 16, "ngroups": 1,
                                         "chunk_size": min(chunk, 8)}}
    else:
        _, l, v, t, n = trm.TASKS["arc"]
        cfg = {"vocab": v, "seq_len": l, "hidden": 512, "heads": 8, "h_cycles": t, "l_cycles": n, "rope": True,
               "expansion": 4, "mamba": {**trm.PAPER_MAMBA, "chunk_size": chunk}}
    if "mamba2" not in trm.MODELS[model][1]:
        del cfg["mamba"]
    return cfg


def rope_tables(seq, hd, base, device):
    """cos, sin [seq, 1, hd] on the device, per dtype (made before any compiled call)."""
    cos, sin = ops.rope_tables(seq, hd, base, torch.float32)
    return {dt: (cos.to(device=device, dtype=dt)[:, None, :], sin.to(device=device, dtype=dt)[:, None, :])
            for dt in (torch.float32, torch.bfloat16)}


def attention(x, p, cfg, impl, tables):
    """torch_ops.attention_op's map (fused qkv, RoPE over the whole sequence, non-causal, o_proj)
    with device-side RoPE tables and, for impl "sdpa", F.scaled_dot_product_attention."""
    bsz, seq, hidden = x.shape
    heads = cfg["num_heads"]
    hd = hidden // heads
    qkv = F.linear(x, p["qkv_proj.weight"]).view(bsz, seq, 3, heads, hd)
    q, k, v = qkv.unbind(2)
    if cfg.get("rope", True):
        cos, sin = tables[q.dtype]
        q = q * cos + ops.rotate_half(q) * sin
        k = k * cos + ops.rotate_half(k) * sin
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, L, hd]
    if impl == "sdpa":
        o = F.scaled_dot_product_attention(q, k, v)  # scale 1/√hd, as torch_ops
    else:
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        o = torch.matmul(torch.softmax(s, dim=-1), v)
    return F.linear(o.transpose(1, 2).reshape(bsz, seq, hidden), p["o_proj.weight"])


def make_net(model, cfg, attn_impl, chunk, device):
    """net(h, inj, params) of torch_trm.net with this file's attention and the chunked SSD."""
    layers = []
    for prefix, op in trm.sublayer_names(model):
        layers.append((prefix, op, trm.op_config(op, cfg)))
    hd = cfg["hidden"] // cfg["heads"]
    tables = rope_tables(cfg["seq_len"] + PREFIX, hd, cfg.get("rope_base", 10000), device)
    q = cfg.get("mamba", {}).get("chunk_size", chunk)

    def scan(*a):
        return ops.ssd_chunked(*a, q)

    def net(h, inj, params):
        h = h + inj
        for prefix, op, ocfg in layers:
            p = {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}
            if op == "attention":
                out = attention(h, p, ocfg, attn_impl, tables)
            elif op == "mamba2":
                out = ops.mamba2_op(h, p, ocfg, scan=scan)
            else:
                out = ops.OPS[op](h, p, ocfg)
            h = trm.rms_norm_f32(h + out, dim=1 if op == "mlp_t" else -1)
        return h

    return net


def act_forward(cfg, params, buffers, batch, z_h, z_l, net, recompute=False):
    """torch_trm.act_step's forward and loss with `net`: (lm_loss, q_loss, total, pe). With
    `recompute`, the calls with gradient keep only their inputs (torch.utils.checkpoint)."""
    t_cycles, n = cfg["h_cycles"], cfg["l_cycles"]
    x, pe = trm.embed(params, buffers, batch["inputs"], batch["puzzle_ids"])
    with torch.no_grad():
        for _ in range(t_cycles - 1):
            for _ in range(n):
                z_l = net(z_l, z_h + x, params)
            z_h = net(z_h, z_l, params)

    def call(h, other, inj):
        f = (lambda a, b, c: net(a, b + c, params)) if inj is not None else (lambda a, b: net(a, b, params))
        args = (h, other, inj) if inj is not None else (h, other)
        if not recompute:
            return f(*args)
        return torch.utils.checkpoint.checkpoint(f, *args, use_reentrant=False)

    for _ in range(n):
        z_l = call(z_l, z_h, x)
    z_h = call(z_h, z_l, None)
    logits = F.linear(z_h[:, PREFIX:], params["lm_head.weight"])
    qh = F.linear(z_h[:, 0], params["q_head.weight"], params["q_head.bias"])
    lm_loss, q_loss, total, _ = trm.stablemax_ce_loss(logits, batch["labels"], qh[:, 0].float())
    return lm_loss, q_loss, total, pe


def peer_self_check(attn_impl):
    """Relative difference of the total loss and of one gradient between this file's step (attn_impl,
    chunked SSD) and torch_trm.act_step (explicit attention, sequential scan), f32 on the CPU at
    tiny shapes, for tr-mamba2attn (attention + Mamba-2 + SwiGLU)."""
    model = "tr-mamba2attn"
    cfg = arc_config(model, True, 8)
    gen = torch.Generator().manual_seed(2)
    params, buffers = trm.random_model(model, cfg, gen, 4)
    batch = {"inputs": torch.randint(1, 12, (2, cfg["seq_len"]), generator=gen),
             "labels": torch.randint(1, 12, (2, cfg["seq_len"]), generator=gen),
             "puzzle_ids": torch.tensor([1, 3])}
    z_h = buffers["H_init"].expand(2, cfg["seq_len"] + PREFIX, cfg["hidden"]).contiguous()
    z_l = buffers["L_init"].expand(2, cfg["seq_len"] + PREFIX, cfg["hidden"]).contiguous()
    out = []
    for ours in (True, False):
        p = {k: v.clone().requires_grad_() for k, v in params.items()}
        if ours:
            net = make_net(model, cfg, attn_impl, 8, torch.device("cpu"))
            total = act_forward(cfg, p, buffers, batch, z_h, z_l, net)[2]
        else:
            total = trm.act_step(model, cfg, p, buffers, batch, z_h, z_l, ops.ssd_sequential)["total"]
        total.backward()
        out.append((total.item(), p["layers.0.0.in_proj.weight"].grad.clone()))
    (t1, g1), (t2, g2) = out
    return max(abs(t1 - t2) / abs(t2), ((g1 - g2).abs().max() / g2.abs().max()).item())


def make_step(model, cfg, bsz, device, dtype, net, micro=1, recompute=False):
    """The training step (see the module doc) over a seeded random model and batch, in `micro`
    slices (gradients accumulated) with or without recomputation."""
    gen = torch.Generator().manual_seed(0)
    params, buffers = trm.random_model(model, cfg, gen, 16)
    params = {k: p.to(device).requires_grad_() for k, p in params.items()}
    buffers = {k: b.to(device) for k, b in buffers.items()}
    moments = {k: (torch.zeros_like(p), torch.zeros_like(p)) for k, p in params.items()}
    ema = {k: p.detach().clone() for k, p in params.items()}
    v, l, h = cfg["vocab"], cfg["seq_len"], cfg["hidden"]
    batch = {"inputs": torch.randint(1, v, (bsz, l), generator=gen).to(device),
             "labels": torch.randint(1, v, (bsz, l), generator=gen).to(device),
             "puzzle_ids": torch.randint(1, 16, (bsz,), generator=gen).to(device)}
    z_h0 = buffers["H_init"].expand(bsz, l + PREFIX, h).contiguous()
    z_l0 = buffers["L_init"].expand(bsz, l + PREFIX, h).contiguous()

    if bsz % micro:
        raise ValueError(f"--micro-batches {micro} does not divide the batch {bsz}")
    n = bsz // micro

    def forward(a):
        part = {k: t[a:a + n] for k, t in batch.items()}
        return act_forward(cfg, params, buffers, part, z_h0[a:a + n], z_l0[a:a + n], net, recompute)

    def step():
        for p in params.values():
            p.grad = None
        lm_loss, q_loss, pe_grad = 0.0, 0.0, []
        for a in range(0, bsz, n):
            if dtype == "bf16":
                # cache_enabled=False: see torch_trm.bench_setup (no-grad casts must not be reused)
                with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False):
                    lm, q, total, pe = forward(a)
            else:
                lm, q, total, pe = forward(a)
            (total / bsz).backward()
            lm_loss, q_loss = lm_loss + lm.detach(), q_loss + q.detach()
            pe_grad.append(pe.grad)
        pe_grad = torch.cat(pe_grad)
        with torch.no_grad():  # AdamATan2-like update (as TRM), sign-SGD on the rows, EMA
            trm.adamatan2_like_(params, moments)
            for k, p in params.items():
                ema[k].lerp_(p, 0.001)
            buffers["puzzle_emb.weight"].index_add_(0, batch["puzzle_ids"], -1e-2 * pe_grad.sign())
        return lm_loss.item(), q_loss.item()  # host read, as our step's metrics

    return step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def is_oom(e):
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(e, oom)) or "out of memory" in str(e).lower()


def measure(model, dtype, args, device, header):
    cfg = arc_config(model, args.tiny, args.mamba2_chunk)
    bsz = args.batch
    attn_impl = args.attn
    if attn_impl == "auto":
        attn_impl = "sdpa" if hasattr(F, "scaled_dot_product_attention") else "math"
    line = {"model": model, "task": "arc", "batch": bsz, "dtype": dtype, "device": str(device), "attn": attn_impl,
            "seq_len": cfg["seq_len"] + PREFIX, "hidden": cfg["hidden"], "T": cfg["h_cycles"], "n": cfg["l_cycles"],
            "mamba2_chunk": cfg["mamba"]["chunk_size"] if "mamba" in cfg else None, "tiny": args.tiny,
            "compile": False, "compile_note": "", "micro_batches": args.micro_batches,
            "recompute": args.recompute}
    eager = make_net(model, cfg, attn_impl, args.mamba2_chunk, device)
    net = eager
    if args.compile:
        if hasattr(torch, "compile"):
            net = torch.compile(eager)
            line["compile"] = True
        else:
            line["compile_note"] = f"torch.compile not available in torch {torch.__version__}: eager"
    t_start = time.perf_counter()
    warm, timed = [], []
    step, err, losses = None, None, (math.nan, math.nan)
    try:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        for attempt in (0, 1):
            try:
                step = make_step(model, cfg, bsz, device, dtype, net, args.micro_batches, args.recompute)
                warm = []
                for _ in range(args.warmup if args.warmup is not None else (2 if line["compile"] else 1)):
                    t0 = time.perf_counter()
                    losses = step()
                    sync(device)
                    warm.append(time.perf_counter() - t0)
                break
            except Exception as e:  # noqa: BLE001 — a compile failure falls back to eager, once
                if is_oom(e) or not line["compile"] or attempt == 1:
                    raise
                line["compile"] = False
                line["compile_note"] = f"torch.compile failed, eager instead: {type(e).__name__}: {str(e)[:300]}"
                net = eager
                step = None
        for _ in range(args.reps):
            last = timed[-1] if timed else (warm[-1] if warm else 0.0)
            if time.perf_counter() - t_start + last > args.budget and timed:
                break
            t0 = time.perf_counter()
            losses = step()
            sync(device)
            timed.append(time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001
        err = {"error": "oom" if is_oom(e) else type(e).__name__, "detail": str(e).split("\n")[0][:500]}
    if err:
        step = None
        gc.collect()  # the traceback's frames held the step's tensors
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return {**line, **err}
    flops = trm.step_flops(model, cfg, bsz)
    if not timed and not warm:
        return {**line, "error": "nothing timed", "detail": "--warmup 0 and --reps 0"}
    sec = statistics.median(timed) if timed else warm[-1]
    out = {**line, "seconds": sec, "min_seconds": min(timed) if timed else sec, "times": timed, "warmup_s": warm,
           "reps": len(timed), "gflop": flops / 1e9, "tflops": flops / sec / 1e12,
           "lm_loss": losses[0] / bsz, "q_loss": losses[1] / bsz,
           "finite": all(math.isfinite(x) for x in losses)}
    if device.type == "cuda":
        out["peak_mem_bytes"] = torch.cuda.max_memory_allocated()
    del step
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def sdpa_self_check(device):
    """max |sdpa − explicit softmax| of this file's attention, f32, on a small random input."""
    gen = torch.Generator().manual_seed(1)
    cfg = {"num_heads": 2, "rope": True}
    x = torch.randn(2, 37, 32, generator=gen).to(device)
    p = {"qkv_proj.weight": (torch.randn(96, 32, generator=gen) / 6).to(device),
         "o_proj.weight": (torch.randn(32, 32, generator=gen) / 6).to(device)}
    tables = rope_tables(37, 16, 10000, device)
    with torch.no_grad():
        d = (attention(x, p, cfg, "sdpa", tables) - attention(x, p, cfg, "math", tables)).abs().max()
    return d.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--models", default="trm-attn,tr-mamba2attn")
    ap.add_argument("--batch", type=int, default=192)
    ap.add_argument("--dtypes", default="bf16,f32")
    ap.add_argument("--compile", action="store_true", help="torch.compile the recursion's net (eager if unavailable)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps (default 1; 2 with --compile)")
    ap.add_argument("--reps", type=int, default=3, help="timed steps (median reported)")
    ap.add_argument("--budget", type=float, default=300, help="seconds per measurement; timed steps stop past it")
    ap.add_argument("--attn", default="auto", choices=["auto", "sdpa", "math"])
    ap.add_argument("--mamba2-chunk", type=int, default=64)
    ap.add_argument("--micro-batches", type=int, default=1, help="slices per batch, gradients accumulated")
    ap.add_argument("--recompute", action="store_true", help="checkpoint the recursion calls with gradient")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (CPU smoke test)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    dtypes = [d for d in args.dtypes.split(",") if d]
    for m in models:
        if m not in trm.MODELS:
            ap.error(f"unknown model {m!r}")
    for d in dtypes:
        if d not in ("f32", "bf16"):
            ap.error(f"unknown dtype {d!r} (f32 or bf16)")
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"name": "torch_step", "error": "no CUDA device visible to torch", "torch": torch.__version__}))
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # f32 means f32 (as our f32 mode)
    torch.backends.cudnn.allow_tf32 = False
    header = {"name": "torch_step", "torch": torch.__version__, "device": str(device),
              "cuda": torch.version.cuda, "compile_available": hasattr(torch, "compile"),
              "sdpa_available": hasattr(F, "scaled_dot_product_attention"), "threads": torch.get_num_threads(),
              "flop_convention": "torch_trm.step_flops"}
    if device.type == "cuda":
        header["gpu"] = torch.cuda.get_device_name(device)
    if header["sdpa_available"]:
        header["sdpa_vs_math_max_abs_diff"] = sdpa_self_check(device)
    attn = args.attn if args.attn != "auto" else ("sdpa" if header["sdpa_available"] else "math")
    header["peer_vs_torch_trm_rel_diff"] = peer_self_check(attn)
    failed = int(not header["peer_vs_torch_trm_rel_diff"] <= 1e-4)
    print(json.dumps(header), flush=True)
    for model in models:
        for dt in dtypes:
            r = measure(model, dt, args, device, header)
            if "error" in r and r["error"] != "oom":
                failed += 1
            print(json.dumps(r), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
