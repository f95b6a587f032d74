#!/usr/bin/env python3
"""PyTorch peer of the recursion (recursion/): the four TRM models, one ACT step, loss, gradients.

Run with Debian's python3-torch (/usr/bin/python3):

    /usr/bin/python3 benchmarks/peers/torch_trm.py make-case DIR --model NAME [--seed N] [--f64]
        writes DIR/case.safetensors: a random tiny model (hidden 32, 2 heads, vocab 11, seq_len 9,
        B = 3, H_cycles 2, L_cycles 2, small Mamba-2) with its batch and initial carry.
    /usr/bin/python3 benchmarks/peers/torch_trm.py golden DIR [--scan sequential|chunked]
        reads DIR/case.safetensors, runs one ACT step (forward, loss, backward of total / B) and
        writes DIR/torch.safetensors.
    /usr/bin/python3 benchmarks/peers/torch_trm.py selftest
        finite differences in f64 through the with-grad cycle, chunked vs sequential scan,
        make-case → golden for all four models, TRM's MLP-t norm axis, stable-max CE by hand.
    /usr/bin/python3 benchmarks/peers/torch_trm.py bench [--threads 2] [--budget 330] [--reps 2]
            [--models trm-attn,tr-mamba2attn] [--tasks sudoku,arc] [--dtypes f32,bf16]
            [--mamba2-chunk 64] [--batch B] [--no-malloc-tunables]
        one training step (ACT step fwd+bwd + AdamATan2-like update) at paper width (hidden 512,
        8 heads, expansion 4, paper Mamba-2) at Sudoku (B 64, L 81, V 11, T 3, n 6) and ARC
        (B 4, L 900, V 12, T 3, n 4) shapes, f32 then bf16 autocast; one warm-up, best of --reps;
        a measurement that would pass --budget seconds is skipped with a line saying so. Prints
        the peer_info line (peer_info.py: torch version, OpenBLAS core, CPU capability, threads),
        then JSON lines {model, task, batch, dtype, seconds, gflop, gflops, measured_at, ...};
        FLOPs: step_flops(). --batch replaces every task's batch size.
        Re-runs itself under the malloc tunables of our own benchmarks unless GLIBC_TUNABLES is set.

Case file (case.safetensors)
----------------------------
metadata: `model` (trm-attn | trm-mlp-t | tr-mamba2attn | tr-mamba2mlpt), `config` (JSON:
  vocab, seq_len, hidden, heads, h_cycles, l_cycles, rope, mamba {d_state, d_conv, expand,
  headdim, ngroups, chunk_size[, bidirectional]}; optional: expansion (4), rope_base (10000),
  puzzle_emb_len (16)), `seed` (make-case only).
trainable: embed_tokens.weight [V, H], lm_head.weight [V, H], q_head.weight [2, H],
  q_head.bias [2], layers.{i}.{j}.<operator parameter> (names of torch_ops.py: qkv_proj.weight,
  o_proj.weight, gate_up_proj.weight, down_proj.weight, in_proj.weight, conv1d.weight [C, 1, K],
  conv1d.bias, dt_bias, A_log, D, norm.weight, out_proj.weight).
buffers: H_init [H], L_init [H], puzzle_emb.weight [num_ids, H].
batch: inputs [B, L] (I32/I64), labels [B, L] (I32/I64, −100 = ignored), puzzle_ids [B] (I32/I64),
  z_H, z_L [B, L + 16, H] (the carry the step starts from).
Floats are F32 (or all F64: the step then runs in f64). Names missing or unexpected are errors.

Output file (torch.safetensors)
-------------------------------
logits [B, L, V], q_halt [B], lm_loss [1] F64, q_loss [1] F64, total [1] F64, new.z_H, new.z_L
[B, L + 16, H], grad.<name> for every trainable parameter, grad.puzzle_emb_rows [B, H] (the
gradient of the per-slot puzzle-embedding row, one per batch item, not summed over equal ids).
All gradients are of total / B.

The step (as TRM's models/recursive_reasoning/trm.py and models/losses.py)
--------------------------------------------------------------------------
x = cat([pe, 0 × 15], embed_tokens[inputs]) · √H with pe = puzzle_emb[puzzle_ids] a leaf;
net(h, inj) = layers(h + inj), each sub-layer h ← RMSNorm(h + op(h)) (eps 1e-5, no weight; for
MLP-t the norm runs over the sequence axis, as TRM's transposed layout does); T−1 no-grad cycles
and one with grad of {n × z_L = net(z_L, z_H + x); z_H = net(z_H, z_L)}; logits = lm_head(z_H[:, 16:]),
q = q_head(z_H[:, 0]), q_halt = q[:, 0]. Loss in float64: stable-max CE per-sequence mean over
non-ignored tokens (count ≥ 1) summed over the batch; seq_correct = all non-ignored tokens right
(an all-ignored row counts as correct); q_loss = Σ BCE-with-logits(q_halt, seq_correct) (computed in
float64 here); total = lm_loss + 0.5·q_loss.
"""
import argparse
import json
import math
import os
import sys
import time
import zlib

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ops as ops  # noqa: E402  (the operators and the safetensors reader/writer)
from peer_info import emit_peer_info, now_iso  # noqa: E402

PREFIX = 16  # puzzle_emb_len: prefix positions, only slot 0 holds the puzzle embedding
IGNORE = -100

MODELS = {
    "trm-attn": (2, ("attention", "swiglu")),
    "trm-mlp-t": (2, ("mlp_t", "swiglu")),
    "tr-mamba2attn": (1, ("mamba2", "mamba2", "attention", "swiglu")),
    "tr-mamba2mlpt": (1, ("mamba2", "mamba2", "mlp_t", "swiglu")),
}

CONFIG_KEYS = {"vocab", "seq_len", "hidden", "heads", "h_cycles", "l_cycles", "rope", "mamba",
               "expansion", "rope_base", "puzzle_emb_len"}
MAMBA_KEYS = {"d_state", "d_conv", "expand", "headdim", "ngroups", "chunk_size", "bidirectional"}

# ----------------------------------------------------------------------------- model


def check_config(model, cfg):
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: expected one of {sorted(MODELS)}")
    unknown = set(cfg) - CONFIG_KEYS
    if unknown:
        raise ValueError(f"config: unknown keys {sorted(unknown)}")
    for k in ("vocab", "seq_len", "hidden", "heads", "h_cycles", "l_cycles"):
        if k not in cfg:
            raise ValueError(f"config: missing {k!r}: {cfg}")
    if cfg.get("puzzle_emb_len", PREFIX) != PREFIX:
        raise ValueError(f"config: puzzle_emb_len must be {PREFIX}: {cfg.get('puzzle_emb_len')}")
    if cfg["hidden"] % cfg["heads"]:
        raise ValueError(f"config: hidden {cfg['hidden']} not divisible by heads {cfg['heads']}")
    if cfg["h_cycles"] < 1 or cfg["l_cycles"] < 1:
        raise ValueError(f"config: h_cycles and l_cycles must be ≥ 1: {cfg}")
    if "mamba2" in MODELS[model][1]:
        unknown = set(cfg.get("mamba", {})) - MAMBA_KEYS
        if unknown:
            raise ValueError(f"config.mamba: unknown keys {sorted(unknown)}")


def op_config(op, cfg):
    """The torch_ops config of one operator of the model (also what make_params reads)."""
    hidden, e = cfg["hidden"], cfg.get("expansion", 4)
    if op == "attention":
        return {"hidden": hidden, "num_heads": cfg["heads"], "rope": cfg.get("rope", True),
                "rope_base": cfg.get("rope_base", 10000)}
    if op == "swiglu":
        return {"hidden": hidden, "expansion": e}
    if op == "mlp_t":
        return {"seq_len": cfg["seq_len"] + PREFIX, "expansion": e}
    if op == "mamba2":
        return {"d_model": hidden, **cfg.get("mamba", {})}
    raise ValueError(f"unknown op {op}")


def sublayer_names(model):
    n_layers, block = MODELS[model]
    return [(f"layers.{i}.{j}", op) for i in range(n_layers) for j, op in enumerate(block)]


def expected_shapes(model, cfg, num_ids):
    """{name: shape} of every trainable parameter and buffer."""
    v, h = cfg["vocab"], cfg["hidden"]
    shapes = {"embed_tokens.weight": (v, h), "lm_head.weight": (v, h), "q_head.weight": (2, h), "q_head.bias": (2,)}
    gen = torch.Generator().manual_seed(0)
    for prefix, op in sublayer_names(model):
        for k, t in ops.make_params(op, op_config(op, cfg), gen).items():
            shapes[f"{prefix}.{k}"] = tuple(t.shape)
    buffers = {"H_init": (h,), "L_init": (h,), "puzzle_emb.weight": (num_ids, h)}
    return shapes, buffers


def rms_norm_f32(x, dim=-1):
    """Weightless RMSNorm, eps 1e-5, computed in float32 at least (as TRM), over `dim`."""
    y = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
    y = y * torch.rsqrt(y.square().mean(dim, keepdim=True) + 1e-5)
    return y.to(x.dtype)


def net(h, inj, params, model, cfg, scan):
    """h ← h + inj, then every sub-layer as h ← RMSNorm(h + op(h))."""
    h = h + inj
    for prefix, op in sublayer_names(model):
        p = {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}
        ocfg = op_config(op, cfg)
        if op == "mamba2":
            out = ops.mamba2_op(h, p, ocfg, scan=scan)
        else:
            out = ops.OPS[op](h, p, ocfg)
        # MLP-t: TRM normalises in its transposed [B, D, L'] layout, i.e. over the sequence axis
        h = rms_norm_f32(h + out, dim=1 if op == "mlp_t" else -1)
    return h


def stablemax_ce_loss(logits, labels, q_halt):
    """Returns lm_loss, q_loss, total (float64 scalars) and seq_correct [B] (bool)."""
    x = logits.double()
    # s(x) = 1/(1−x) for x < 0, x + 1 else; the clamp keeps the unused branch finite (no 0·inf)
    s = torch.where(x < 0, 1.0 / (1.0 - x.clamp(max=0.0)), x + 1.0)
    logp = torch.log(s / s.sum(-1, keepdim=True))
    valid = labels != IGNORE
    nll = -logp.gather(-1, torch.where(valid, labels, 0).unsqueeze(-1)).squeeze(-1)
    nll = torch.where(valid, nll, torch.zeros_like(nll))
    count = valid.sum(-1)
    lm_loss = (nll.sum(-1) / count.clamp(min=1)).sum()
    with torch.no_grad():
        right = ((logits.argmax(-1) == labels) & valid).sum(-1)
        seq_correct = right == count
    q_loss = F.binary_cross_entropy_with_logits(q_halt.double(), seq_correct.double(), reduction="sum")
    return lm_loss, q_loss, lm_loss + 0.5 * q_loss, seq_correct


def embed(params, buffers, inputs, puzzle_ids):
    """x [B, L', H] and the puzzle-embedding leaf pe [B, H]."""
    tok = F.embedding(inputs, params["embed_tokens.weight"])
    pe = buffers["puzzle_emb.weight"][puzzle_ids].detach().clone().requires_grad_()
    prefix = torch.cat([pe[:, None, :], pe.new_zeros(pe.shape[0], PREFIX - 1, pe.shape[1])], dim=1)
    x = torch.cat([prefix, tok.to(prefix.dtype)], dim=1) * math.sqrt(tok.shape[-1])
    return x, pe


def act_step(model, cfg, params, buffers, batch, z_h, z_l, scan=None, frozen_cycles=None):
    """One ACT step. Returns a dict of the outputs (graph attached) and the leaf `pe`.

    frozen_cycles: None = cfg's h_cycles − 1 no-grad cycles (the real step); an int overrides the
    number of no-grad cycles (the finite-difference check uses 0 from a precomputed carry).
    """
    t_cycles, n = cfg["h_cycles"], cfg["l_cycles"]
    no_grad = t_cycles - 1 if frozen_cycles is None else frozen_cycles
    x, pe = embed(params, buffers, batch["inputs"], batch["puzzle_ids"])
    with torch.no_grad():
        for _ in range(no_grad):
            for _ in range(n):
                z_l = net(z_l, z_h + x, params, model, cfg, scan)
            z_h = net(z_h, z_l, params, model, cfg, scan)
    for _ in range(n):
        z_l = net(z_l, z_h + x, params, model, cfg, scan)
    z_h = net(z_h, z_l, params, model, cfg, scan)
    logits = F.linear(z_h[:, PREFIX:], params["lm_head.weight"])
    q = F.linear(z_h[:, 0], params["q_head.weight"], params["q_head.bias"])
    q_halt = q[:, 0].float() if q.dtype != torch.float64 else q[:, 0]
    lm_loss, q_loss, total, seq_correct = stablemax_ce_loss(logits, batch["labels"], q_halt)
    return {"logits": logits, "q_halt": q_halt, "lm_loss": lm_loss, "q_loss": q_loss, "total": total,
            "seq_correct": seq_correct, "new.z_H": z_h.detach(), "new.z_L": z_l.detach(), "pe": pe}


def no_grad_cycles(model, cfg, params, buffers, batch, z_h, z_l, scan=None):
    """The carry after the step's T−1 no-grad cycles (for the finite-difference check)."""
    with torch.no_grad():
        x, _ = embed(params, buffers, batch["inputs"], batch["puzzle_ids"])
        for _ in range(cfg["h_cycles"] - 1):
            for _ in range(cfg["l_cycles"]):
                z_l = net(z_l, z_h + x, params, model, cfg, scan)
            z_h = net(z_h, z_l, params, model, cfg, scan)
    return z_h, z_l


def scan_fn(kind, cfg):
    if kind == "sequential":
        return ops.ssd_sequential
    q = cfg.get("mamba", {}).get("chunk_size", 256) if kind == "chunked" else int(kind)
    return lambda *a: ops.ssd_chunked(*a, q)


# ----------------------------------------------------------------------------- cases


def split_case(model, cfg, tensors):
    num_ids = tensors["puzzle_emb.weight"].shape[0] if "puzzle_emb.weight" in tensors else 0
    pshapes, bshapes = expected_shapes(model, cfg, num_ids)
    batch_names = {"inputs", "labels", "puzzle_ids", "z_H", "z_L"}
    missing = sorted((set(pshapes) | set(bshapes) | batch_names) - set(tensors))
    unexpected = sorted(set(tensors) - set(pshapes) - set(bshapes) - batch_names)
    if missing or unexpected:
        raise KeyError(f"case for {model}: missing {missing}, unexpected {unexpected}")
    for name, shape in {**pshapes, **bshapes}.items():
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f"case: {name} has shape {list(tensors[name].shape)}, expected {list(shape)}")
    dtype = tensors["embed_tokens.weight"].dtype
    params = {k: tensors[k].to(dtype).clone().requires_grad_() for k in pshapes}
    buffers = {k: tensors[k].to(dtype) for k in bshapes}
    b, l = tensors["inputs"].shape
    if l != cfg["seq_len"]:
        raise ValueError(f"case: inputs have length {l}, config seq_len {cfg['seq_len']}")
    batch = {k: tensors[k].long() for k in ("inputs", "labels", "puzzle_ids")}
    if tuple(batch["labels"].shape) != (b, l) or tuple(batch["puzzle_ids"].shape) != (b,):
        raise ValueError(f"case: labels {list(batch['labels'].shape)} / puzzle_ids {list(batch['puzzle_ids'].shape)} for B={b}, L={l}")
    for k in ("z_H", "z_L"):
        if tuple(tensors[k].shape) != (b, l + PREFIX, cfg["hidden"]):
            raise ValueError(f"case: {k} has shape {list(tensors[k].shape)}, expected {[b, l + PREFIX, cfg['hidden']]}")
    return params, buffers, batch, tensors["z_H"].to(dtype), tensors["z_L"].to(dtype)


def run_golden(case_dir, scan_kind="sequential", out_name="torch.safetensors"):
    tensors, meta = ops.read_safetensors(os.path.join(case_dir, "case.safetensors"))
    model, cfg = meta["model"], json.loads(meta["config"])
    check_config(model, cfg)
    params, buffers, batch, z_h, z_l = split_case(model, cfg, tensors)
    r = act_step(model, cfg, params, buffers, batch, z_h, z_l, scan_fn(scan_kind, cfg))
    bsz = batch["inputs"].shape[0]
    (r["total"] / bsz).backward()
    out = {k: r[k].detach() for k in ("logits", "q_halt", "new.z_H", "new.z_L")}
    for k in ("lm_loss", "q_loss", "total"):
        out[k] = r[k].detach().reshape(1)
    for k, v in params.items():
        out[f"grad.{k}"] = v.grad if v.grad is not None else torch.zeros_like(v)
    out["grad.puzzle_emb_rows"] = r["pe"].grad
    ops.write_safetensors(os.path.join(case_dir, out_name), out,
                          {"model": model, "config": json.dumps(cfg), "torch": torch.__version__, "scan": scan_kind})
    return r, out


TINY = {"vocab": 11, "seq_len": 9, "hidden": 32, "heads": 2, "h_cycles": 2, "l_cycles": 2, "expansion": 4,
        "mamba": {"d_state": 8, "d_conv": 4, "expand": 2, "headdim": 8, "ngroups": 1, "chunk_size": 4}}


def tiny_config(model):
    cfg = json.loads(json.dumps(TINY))
    cfg["rope"] = "attention" in MODELS[model][1]
    if "mamba2" not in MODELS[model][1]:
        del cfg["mamba"]
    return cfg


def random_model(model, cfg, gen, num_ids, dtype=torch.float32):
    """Random trainable parameters and buffers (seeded; sane activations, not the training init)."""
    v, h = cfg["vocab"], cfg["hidden"]
    p = {
        "embed_tokens.weight": torch.randn(v, h, generator=gen) / math.sqrt(h),
        "lm_head.weight": torch.randn(v, h, generator=gen) / math.sqrt(h),
        # not TRM's zero weight: a nonzero Q head sends gradient into z_H[:, 0]
        "q_head.weight": torch.randn(2, h, generator=gen) / math.sqrt(h),
        "q_head.bias": torch.tensor([-0.5, 0.25]),
    }
    for prefix, op in sublayer_names(model):
        for k, t in ops.make_params(op, op_config(op, cfg), gen).items():
            p[f"{prefix}.{k}"] = t
    b = {
        "H_init": torch.randn(h, generator=gen).clamp(-2, 2),
        "L_init": torch.randn(h, generator=gen).clamp(-2, 2),
        "puzzle_emb.weight": torch.randn(num_ids, h, generator=gen) / math.sqrt(h),
    }
    return {k: t.to(dtype) for k, t in p.items()}, {k: t.to(dtype) for k, t in b.items()}


def make_case(case_dir, model, seed=0, f64=False, batch_size=3):
    """A tiny random case: labels with −100 entries, row 1 labelled with the model's own argmax at
    its non-ignored positions (so seq_correct is true there), the last row all ignored."""
    cfg = tiny_config(model)
    check_config(model, cfg)
    dtype = torch.float64 if f64 else torch.float32
    gen = torch.Generator().manual_seed(seed)
    num_ids = 4
    params, buffers = random_model(model, cfg, gen, num_ids, dtype)
    bsz, l, v, h = batch_size, cfg["seq_len"], cfg["vocab"], cfg["hidden"]
    inputs = torch.randint(0, v, (bsz, l), generator=gen, dtype=torch.int32)
    puzzle_ids = torch.tensor([1, 3, 1] + [2] * (bsz - 3), dtype=torch.int32)[:bsz]
    # carry: slot 0 fresh (H_init / L_init broadcast), the others mid-run (unit-RMS random states)
    z_h = ops.rms_norm(torch.randn(bsz, l + PREFIX, h, generator=gen)).to(dtype)
    z_l = ops.rms_norm(torch.randn(bsz, l + PREFIX, h, generator=gen)).to(dtype)
    z_h[0], z_l[0] = buffers["H_init"], buffers["L_init"]
    labels = torch.randint(0, v, (bsz, l), generator=gen)
    ignored = torch.rand(bsz, l, generator=gen) < 0.3
    ignored[:, 0] = False
    labels[ignored] = IGNORE
    batch = {"inputs": inputs.long(), "labels": labels, "puzzle_ids": puzzle_ids.long()}
    with torch.no_grad():
        r = act_step(model, cfg, params, buffers, batch, z_h, z_l, ops.ssd_sequential)
    if bsz > 1:
        pred = r["logits"][1].argmax(-1)
        labels[1] = torch.where(labels[1] == IGNORE, labels[1], pred)
    labels[-1] = IGNORE
    # seq_correct must not hinge on rounding: every labelled token's top-2 logit gap ≥ 1e-3
    top2 = r["logits"].topk(2, dim=-1).values
    margin = (top2[..., 0] - top2[..., 1])[labels != IGNORE].min().item()
    if margin < 1e-3:
        raise ValueError(f"make-case: a near-tie in the argmax (top-2 gap {margin:.3g}) would make seq_correct "
                         f"fragile: try another --seed (now {seed})")
    case = {**params, **buffers, "inputs": inputs, "labels": labels.to(torch.int32), "puzzle_ids": puzzle_ids,
            "z_H": z_h, "z_L": z_l}
    os.makedirs(case_dir, exist_ok=True)
    ops.write_safetensors(os.path.join(case_dir, "case.safetensors"), case,
                          {"model": model, "config": json.dumps(cfg), "seed": str(seed)})
    return cfg


# ----------------------------------------------------------------------------- self-test


def selftest():
    torch.manual_seed(0)
    failures = []

    def check(name, ok, detail):
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if not ok:
            failures.append(name)

    # 1. stable-max CE against a by-hand loop (incl. an all-ignored row, x = 1 exactly, x < 0)
    logits = torch.tensor([[[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], [[2.0, 1.0, 0.0], [-0.5, -0.25, 1.0]]])
    labels = torch.tensor([[0, 1], [IGNORE, IGNORE]])
    lm, ql, tot, sc = stablemax_ce_loss(logits, labels, torch.tensor([0.3, -1.2], dtype=torch.float64))
    s = lambda x: 1 / (1 - x) if x < 0 else x + 1  # noqa: E731
    want = 0.0
    for t, lab in ((0, 0), (1, 1)):
        row = logits[0, t].tolist()
        want -= math.log(s(row[lab]) / sum(s(v) for v in row)) / 2
    sp = lambda z: math.log1p(math.exp(-abs(z))) + max(z, 0)  # noqa: E731  softplus
    want_q = sp(-0.3) + sp(1.2)  # row 0: argmax [0, 1] = labels → correct; row 1 all ignored → correct
    check("stable-max CE by hand", abs(lm.item() - want) < 1e-12 and abs(ql.item() - want_q) < 1e-12
          and sc.tolist() == [True, True], f"lm {lm.item():.12g} vs {want:.12g}, q {ql.item():.12g} vs {want_q:.12g}")
    x1 = torch.ones(1, 1, 3, dtype=torch.float64, requires_grad=True)
    stablemax_ce_loss(x1, torch.tensor([[0]]), torch.zeros(1, dtype=torch.float64))[0].backward()
    check("stable-max CE gradient finite at x = 1", bool(torch.isfinite(x1.grad).all()), f"{x1.grad.flatten().tolist()}")

    # 2. MLP-t post-norm over the sequence axis: equals TRM's transposed layout
    h = torch.randn(2, 7, 5, dtype=torch.float64)
    p = {"gate_up_proj.weight": torch.randn(512, 7, dtype=torch.float64) / 3,
         "down_proj.weight": torch.randn(7, 256, dtype=torch.float64) / 16}
    ht = h.transpose(1, 2)
    trm = ops.rms_norm(ht + ops.swiglu_map(ht, p["gate_up_proj.weight"], p["down_proj.weight"])).transpose(1, 2)
    ours = rms_norm_f32(h + ops.mlp_t_op(h, p, {}), dim=1)
    check("MLP-t norm over the sequence axis", torch.allclose(trm, ours, atol=1e-12), f"max err {(trm - ours).abs().max().item():.3g}")

    for model in MODELS:
        # 3. finite differences in f64 through the with-grad cycle (the T−1 no-grad cycles are
        #    held fixed: autograd of the real step must equal FD of the last cycle from their carry)
        cfg = tiny_config(model)
        gen = torch.Generator().manual_seed(7)
        params, buffers = random_model(model, cfg, gen, 4, torch.float64)
        params = {k: v.requires_grad_() for k, v in params.items()}
        bsz, l, h_ = 2, cfg["seq_len"], cfg["hidden"]
        batch = {"inputs": torch.randint(0, cfg["vocab"], (bsz, l), generator=gen),
                 "labels": torch.randint(0, cfg["vocab"], (bsz, l), generator=gen),
                 "puzzle_ids": torch.tensor([2, 0])}
        batch["labels"][0, :3] = IGNORE
        z_h = torch.randn(bsz, l + PREFIX, h_, generator=gen, dtype=torch.float64)
        z_l = torch.randn(bsz, l + PREFIX, h_, generator=gen, dtype=torch.float64)
        scan = ops.ssd_sequential
        r = act_step(model, cfg, params, buffers, batch, z_h, z_l, scan)
        (r["total"] / bsz).backward()
        c_h, c_l = no_grad_cycles(model, cfg, params, buffers, batch, z_h, z_l, scan)

        def f(pp, bb):
            with torch.no_grad():
                rr = act_step(model, cfg, pp, bb, batch, c_h, c_l, scan, frozen_cycles=0)
            return rr["total"].item() / bsz

        base = f(params, buffers)
        check(f"{model}: last cycle from the frozen carry = the full step", abs(base - r["total"].item() / bsz) < 1e-12,
              f"{base:.15g} vs {r['total'].item() / bsz:.15g}")
        names = ["embed_tokens.weight", "lm_head.weight", "q_head.weight", "q_head.bias"]
        names += [n for n in params if n.startswith("layers.")]
        worst = 0.0
        eps = 1e-6
        for name in names:
            flat = params[name].detach().view(-1)
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            idx = torch.randint(0, flat.numel(), (2,), generator=g).tolist()
            if name == "embed_tokens.weight":  # a row that is used
                idx = [int(batch["inputs"][0, 0]) * h_ + 3]
            for i in idx:
                old = flat[i].item()
                flat[i] = old + eps
                up = f(params, buffers)
                flat[i] = old - eps
                dn = f(params, buffers)
                flat[i] = old
                fd = (up - dn) / (2 * eps)
                ad = params[name].grad.view(-1)[i].item()
                # relative, floored at 1e-4: central differences at eps 1e-6 of a loss ~3 carry ~1e-10
                # of rounding, which a tiny gradient (e.g. A_log's, with dt ≈ 1e-3) cannot absorb
                err = abs(fd - ad) / max(abs(fd), abs(ad), 1e-4)
                worst = max(worst, err)
                if err > 1e-5:
                    print(f"     {name}[{i}]: fd {fd:.9g} autograd {ad:.9g}")
        # the puzzle-embedding rows: perturb the table row of slot 0 (id 2, used once)
        row = buffers["puzzle_emb.weight"][2]
        for j in (0, 5):
            old = row[j].item()
            row[j] = old + eps
            up = f(params, buffers)
            row[j] = old - eps
            dn = f(params, buffers)
            row[j] = old
            fd = (up - dn) / (2 * eps)
            ad = r["pe"].grad[0, j].item()
            worst = max(worst, abs(fd - ad) / max(abs(fd), abs(ad), 1e-4))
        check(f"{model}: f64 finite differences vs autograd ({len(names)} tensors + puzzle rows)", worst < 1e-5,
              f"worst rel err {worst:.3g}")

        # 4. chunked scan (chunk 4, not dividing L' = 25) gives the same step
        if "mamba2" in MODELS[model][1]:
            r2 = act_step(model, cfg, params, buffers, batch, z_h, z_l, scan_fn("chunked", cfg))
            err = (r2["logits"] - r["logits"]).abs().max().item()
            check(f"{model}: chunked scan = sequential (f64 logits)", err < 1e-9, f"max err {err:.3g}")

    # 5. make-case → golden for all four models (f32), outputs sane and complete
    import tempfile
    with tempfile.TemporaryDirectory(prefix="torch-trm-") as tmp:
        for model in MODELS:
            d = os.path.join(tmp, model)
            cfg = make_case(d, model, seed=1)
            r, out = run_golden(d)
            back, _ = ops.read_safetensors(os.path.join(d, "torch.safetensors"))
            pshapes, _ = expected_shapes(model, cfg, 4)
            want = {"logits", "q_halt", "lm_loss", "q_loss", "total", "new.z_H", "new.z_L", "grad.puzzle_emb_rows"}
            want |= {f"grad.{k}" for k in pshapes}
            finite = all(bool(torch.isfinite(t).all()) for t in back.values())
            nonzero = all(back[f"grad.{k}"].abs().max().item() > 0 for k in pshapes)
            sc = r["seq_correct"].tolist()
            check(f"{model}: make-case → golden", set(back) == want and finite and nonzero and sc == [False, True, True],
                  f"{len(back)} tensors, total {back['total'].item():.6g}, seq_correct {sc}, "
                  f"|logits| ≤ {back['logits'].abs().max().item():.3g}, all grads nonzero {nonzero}")
            # f64 golden of the same case agrees with f32 (a sanity bound on f32 rounding)
            t64, meta = ops.read_safetensors(os.path.join(d, "case.safetensors"))
            t64 = {k: (v.double() if v.is_floating_point() else v) for k, v in t64.items()}
            d64 = os.path.join(tmp, model + "-f64")
            os.makedirs(d64)
            ops.write_safetensors(os.path.join(d64, "case.safetensors"), t64, meta)
            _, o64 = run_golden(d64)
            rel = max((out[k].double() - o64[k]).abs().max().item() / max(o64[k].abs().max().item(), 1e-30)
                      for k in o64)
            check(f"{model}: f32 golden vs f64 golden", rel < 1e-4, f"worst rel err over all outputs {rel:.3g}")
    print(f"selftest: {len(failures)} failures")
    return 1 if failures else 0


# ----------------------------------------------------------------------------- bench

PAPER_MAMBA = {"d_state": 128, "d_conv": 4, "expand": 2, "headdim": 64, "ngroups": 1, "chunk_size": 256}
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"
TASKS = {  # name: (B, L, V, T, n)
    "sudoku": (64, 81, 11, 3, 6),
    "arc": (4, 900, 12, 3, 4),
}


def net_flops(model, cfg, bsz):
    """Forward FLOPs of one net call (2 per multiply-add), the convention of operators_bench.ts:
    attention 8·N·D² + 4·B·L'²·D; SwiGLU 6·N·D·I; MLP-t 6·B·D·L'·I'; Mamba-2
    2·N·D·(d_in_proj + d_inner) + N·(5·d_state·d_inner + 2·d_conv·conv_dim) (the sequential
    recurrence, whatever the scan; ×2 if bidirectional), with N = B·L' tokens."""
    lp, d = cfg["seq_len"] + PREFIX, cfg["hidden"]
    n_tok = bsz * lp
    total = 0
    for _, op in sublayer_names(model):
        oc = op_config(op, cfg)
        if op == "attention":
            total += 8 * n_tok * d * d + 4 * bsz * lp * lp * d
        elif op == "swiglu":
            total += 6 * n_tok * d * ops.swiglu_inter(d, oc["expansion"])
        elif op == "mlp_t":
            total += 6 * bsz * d * lp * ops.swiglu_inter(lp, oc["expansion"])
        elif op == "mamba2":
            m = ops.mamba2_dims(oc)
            f = 2 * n_tok * d * (m["proj"] + m["din"]) + n_tok * (5 * m["n"] * m["din"] + 2 * m["k"] * m["conv"])
            total += f * (2 if oc.get("bidirectional", False) not in (False, "none") else 1)
    return total


def step_flops(model, cfg, bsz):
    """FLOPs of one training step: T·(n+1) net calls forward, of which the last (n+1) also run
    backward at 2× forward, plus the LM head (2·B·L·D·V forward, ×3 with backward):
        F_step = F_net·(T·(n+1) + 2·(n+1)) + 6·B·L·D·V
    (embedding gather, norms, softmax, loss and the optimiser update are not counted)."""
    t, n = cfg["h_cycles"], cfg["l_cycles"]
    return net_flops(model, cfg, bsz) * (t * (n + 1) + 2 * (n + 1)) + 6 * bsz * cfg["seq_len"] * cfg["hidden"] * cfg["vocab"]


def adamatan2_like_(params, moments, lr=1e-4, wd=0.1):
    """The peers' AdamATan2-like update of every weight (as TRM, β = 0.9 / 0.95), in place; call
    under torch.no_grad(). Our step's cost, not a reference implementation."""
    for k, p in params.items():
        m, s = moments[k]
        p.mul_(1 - lr * wd)
        m.lerp_(p.grad, 0.1)
        s.lerp_(p.grad.square(), 0.05)
        p.sub_(lr * torch.atan2(m, s.sqrt()))


def bench_setup(model, task, m2_chunk, batch=None):
    bsz, l, v, t, n = TASKS[task]
    bsz = batch or bsz
    cfg = {"vocab": v, "seq_len": l, "hidden": 512, "heads": 8, "h_cycles": t, "l_cycles": n, "rope": True,
           "expansion": 4, "mamba": {**PAPER_MAMBA, "chunk_size": m2_chunk}}
    if "mamba2" not in MODELS[model][1]:
        del cfg["mamba"]
    gen = torch.Generator().manual_seed(0)
    params, buffers = random_model(model, cfg, gen, 1)
    params = {k: p.requires_grad_() for k, p in params.items()}
    moments = {k: (torch.zeros_like(p), torch.zeros_like(p)) for k, p in params.items()}
    batch = {"inputs": torch.randint(0, v, (bsz, l), generator=gen),
             "labels": torch.randint(0, v, (bsz, l), generator=gen),
             "puzzle_ids": torch.zeros(bsz, dtype=torch.long)}
    z_h = buffers["H_init"].expand(bsz, l + PREFIX, 512).contiguous()
    z_l = buffers["L_init"].expand(bsz, l + PREFIX, 512).contiguous()
    scan = scan_fn(str(m2_chunk), cfg)

    def step(dt):
        """One training step: ACT step forward + backward of total / B + the optimiser updates."""
        for p in params.values():
            p.grad = None
        if dt == "bf16":
            # cache_enabled=False: with the weight-cast cache on, the bf16 copies made inside the
            # no-grad cycles (no grad_fn) are reused by the grad cycle and the weights get no gradient
            with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
                r = act_step(model, cfg, params, buffers, batch, z_h, z_l, scan)
        else:
            r = act_step(model, cfg, params, buffers, batch, z_h, z_l, scan)
        (r["total"] / bsz).backward()
        with torch.no_grad():  # AdamATan2-like update (as TRM) + sign-SGD on the puzzle row
            adamatan2_like_(params, moments)
            buffers["puzzle_emb.weight"].index_add_(0, batch["puzzle_ids"], -1e-4 * r["pe"].grad.sign())

    return cfg, step_flops(model, cfg, bsz), step


def bench(threads, budget, models, tasks, dtypes, m2_chunk, reps, batch=None):
    """f32 of every (task, model) first, then bf16; a measurement whose warm-up + one step would
    end past `budget` seconds is skipped and says so, and timed steps stop at the budget (with
    none left, the warm-up time is reported with reps 0). The step time is guessed from the same
    model's f32 time × 0.6 for bf16, else from half the rate of the last measurement of the dtype
    (first: 100 GFLOP/s f32)."""
    torch.set_num_threads(threads)
    t_start = time.perf_counter()
    print(json.dumps({"name": "torch", "version": torch.__version__, "threads": threads, "loadavg_1m": os.getloadavg()[0],
                      "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
                      "flop_convention": "2/multiply-add; F_net·(T(n+1) + 2(n+1)) + 6·B·L·D·V (see step_flops)"}), flush=True)
    emit_peer_info()
    setups = {(task, model): bench_setup(model, task, m2_chunk, batch) for task in tasks for model in models}
    measured = {}
    rate = {"f32": 100e9}
    for dt in dtypes:
        for task in tasks:
            for model in models:
                cfg, flops, step = setups[(task, model)]
                bsz = batch or TASKS[task][0]
                head = {"model": model, "task": task, "batch": bsz, "dtype": dt}
                if ("f32", task, model) in measured and dt != "f32":
                    guess = measured[("f32", task, model)] * 0.6
                else:  # another model's rate, halved (PyTorch's Mamba-2 runs at ~half attention's rate)
                    guess = flops / (0.5 * rate.get(dt, rate["f32"] / 0.6))
                elapsed = time.perf_counter() - t_start
                if elapsed + 2 * guess > budget:
                    print(json.dumps({**head, "skipped": f"warm-up + 1 step (≈ {2 * guess:.0f} s) would pass the "
                                      f"{budget:.0f} s budget (elapsed {elapsed:.0f} s)"}), flush=True)
                    continue
                try:
                    t0 = time.perf_counter()
                    step(dt)  # warm-up
                    warm = time.perf_counter() - t0
                except RuntimeError as e:  # e.g. an op without a bf16 CPU kernel in this build
                    print(json.dumps({**head, "skipped": f"failed: {e}"}), flush=True)
                    continue
                timed = []
                for _ in range(reps):
                    last = timed[-1] if timed else warm
                    if time.perf_counter() - t_start + last > budget:
                        break
                    t0 = time.perf_counter()
                    step(dt)
                    timed.append(time.perf_counter() - t0)
                best = min(timed) if timed else warm  # reps 0: only the warm-up fitted the budget
                measured[(dt, task, model)] = best
                rate[dt] = flops / best
                print(json.dumps({**head, "seconds": best, "gflop": flops / 1e9, "gflops": flops / best / 1e9,
                                  "seq_len": cfg["seq_len"] + PREFIX, "T": cfg["h_cycles"], "n": cfg["l_cycles"],
                                  "reps": len(timed), "warmup_s": warm, "threads": threads,
                                  "mamba2_chunk": m2_chunk if "mamba2" in MODELS[model][1] else None,
                                  "loadavg_1m": os.getloadavg()[0], "measured_at": now_iso()}), flush=True)
    print(json.dumps({"name": "bench_total_s", "value": time.perf_counter() - t_start, "loadavg_1m": os.getloadavg()[0]}), flush=True)


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("make-case", help="write DIR/case.safetensors (a random tiny model and batch)")
    m.add_argument("dir")
    m.add_argument("--model", required=True, choices=sorted(MODELS))
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--f64", action="store_true", help="store all floats as F64 (golden then runs in f64)")
    g = sub.add_parser("golden", help="DIR/case.safetensors → DIR/torch.safetensors")
    g.add_argument("dir")
    g.add_argument("--scan", default="sequential", choices=["sequential", "chunked"],
                   help="Mamba-2 scan: the recurrence (default) or chunked SSD with config chunk_size")
    sub.add_parser("selftest", help="finite differences, scan agreement, make-case → golden for all models")
    b = sub.add_parser("bench", help="one training step at paper width; JSON lines")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--budget", type=float, default=330, help="seconds; measurements that would pass it are skipped")
    b.add_argument("--models", default="trm-attn,tr-mamba2attn")
    b.add_argument("--tasks", default="sudoku,arc")
    b.add_argument("--dtypes", default="f32,bf16")
    b.add_argument("--reps", type=int, default=2, help="timed steps after one warm-up (best is reported)")
    b.add_argument("--mamba2-chunk", type=int, default=64, help="chunk length of the PyTorch SSD in the bench")
    b.add_argument("--batch", type=int, default=None, help="batch size of every task (default: the task's)")
    b.add_argument("--no-malloc-tunables", action="store_true",
                   help=f"keep glibc's default malloc (default: re-run under GLIBC_TUNABLES={MALLOC_TUNABLES})")
    args = ap.parse_args()
    if args.mode == "make-case":
        cfg = make_case(args.dir, args.model, args.seed, args.f64)
        print(f"wrote {os.path.join(args.dir, 'case.safetensors')} ({args.model}, {json.dumps(cfg)})")
        return 0
    if args.mode == "golden":
        r, _ = run_golden(args.dir, args.scan)
        print(f"wrote {os.path.join(args.dir, 'torch.safetensors')}: lm_loss {r['lm_loss'].item():.9g}, "
              f"q_loss {r['q_loss'].item():.9g}, total {r['total'].item():.9g}, seq_correct {r['seq_correct'].tolist()}")
        return 0
    if args.mode == "selftest":
        return selftest()
    if not args.no_malloc_tunables and "GLIBC_TUNABLES" not in os.environ:
        # The same tunables as our own benchmarks (results/bench/*.csv, glibc_tunables): without
        # them every large activation is an mmap/munmap and the page faults cost PyTorch ~2.5× on
        # an ARC step here (sys time ~40 % of the run). Re-exec, since glibc reads them at start.
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES})
    for name in args.models.split(","):
        if name not in MODELS:
            raise ValueError(f"bench: unknown model {name!r}")
    bench(args.threads, args.budget, args.models.split(","), args.tasks.split(","), args.dtypes.split(","),
          args.mamba2_chunk, args.reps, args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
