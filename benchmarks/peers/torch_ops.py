#!/usr/bin/env python3
"""PyTorch peer of the operators (operators/): reference implementations, op-check cases, compare.

Run with Debian's python3-torch (/usr/bin/python3):

    /usr/bin/python3 benchmarks/peers/torch_ops.py write-cases DIR [--golden] [--seed N]
        writes NAME.case.safetensors (op, config, input, grad_output, parameters under PyTorch
        state-dict names) and NAME.torch.safetensors (PyTorch autograd's output and gradients,
        the same tensor names op-check writes) for a set of shapes, odd ones included.
        --golden writes only the small committed fixtures (fixtures/ops/).
    /usr/bin/python3 benchmarks/peers/torch_ops.py compare DIR [--backend ref|cpu|auto] [--out-dir D]
        runs `deno task op-check` on every *.case.safetensors of DIR and compares its OUT with the
        *.torch.safetensors beside it; prints max abs / rel error per tensor (rel = max abs error /
        max |torch|); exit 1 on any failure.
    /usr/bin/python3 benchmarks/peers/torch_ops.py bench [--threads N] [--reps N] [--shapes 8x916,64x97]
        forward+backward time of each operator at D = 512 (benchmarks/speed/operators_bench.ts reads
        the JSON lines it prints: first the peer_info line of peer_info.py, then one per
        operator and shape with its measured_at).

Everything is computed in float32, like TRM (RoPE angles and tables in float32, q and k rotated in
float32). The safetensors reader/writer is a few lines here (the `safetensors` package is not a
Debian package): u64 little-endian header length, JSON header padded with spaces to 8-byte
alignment, then the raw little-endian row-major data.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The peers share their timer; this folder on the path makes the import work from any directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_engine import best_time  # noqa: E402
from peer_info import emit_peer_info, now_iso  # noqa: E402

# ----------------------------------------------------------------------------- safetensors

_DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "I32": (torch.int32, 4), "I64": (torch.int64, 8)}
_NAMES = {v[0]: k for k, v in _DTYPES.items()}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} with string metadata (tensors are stored in name order)."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in _NAMES:
            raise TypeError(f"write_safetensors: unsupported dtype {t.dtype} of {name}")
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - (8 + len(raw)) % 8) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns ({name: tensor}, metadata)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = buf[8 + n :]
    out = {}
    for name, e in header.items():
        dtype, size = _DTYPES[e["dtype"]]
        b, end = e["data_offsets"]
        count = (end - b) // size
        t = torch.frombuffer(bytearray(data[b:end]), dtype=dtype, count=count) if count else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"])
    return out, meta


# ----------------------------------------------------------------------------- operators


def swiglu_inter(width, expansion=4.0):
    """round(expansion·width·2/3) rounded up to a multiple of 256 (TRM's rule)."""
    return int(math.ceil(round(expansion * width * 2 / 3) / 256) * 256)


def rms_norm(x, eps=1e-5):
    """x / sqrt(mean(x²) + eps) over the last axis, no weight."""
    return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)


def rope_tables(seq, head_dim, base, dtype):
    """cos, sin [seq, head_dim], rotate-half layout; frequencies and angles in float32 (as TRM)."""
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    ang = torch.outer(torch.arange(seq, dtype=torch.float32), inv)
    ang = torch.cat([ang, ang], dim=-1).to(dtype)
    return ang.cos(), ang.sin()


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def attention_op(x, p, cfg):
    """Non-causal MHA with a fused qkv projection, optional RoPE over the whole sequence, o_proj."""
    bsz, seq, hidden = x.shape
    heads = cfg["num_heads"]
    hd = hidden // heads
    qkv = F.linear(x, p["qkv_proj.weight"]).view(bsz, seq, 3, heads, hd)
    q, k, v = qkv.unbind(2)  # each [B, L, H, hd]
    if cfg.get("rope", True):
        cos, sin = rope_tables(seq, hd, cfg.get("rope_base", 10000), x.dtype)
        cos, sin = cos[:, None, :], sin[:, None, :]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, L, hd]
    s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
    o = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(bsz, seq, hidden)
    return F.linear(o, p["o_proj.weight"])


def swiglu_map(x, w_gu, w_down):
    gate, up = F.linear(x, w_gu).chunk(2, dim=-1)
    return F.linear(F.silu(gate) * up, w_down)


def swiglu_op(x, p, cfg):
    return swiglu_map(x, p["gate_up_proj.weight"], p["down_proj.weight"])


def mlp_t_op(x, p, cfg):
    """SwiGLU along the sequence axis: [B, L, D] → [B, D, L] → SwiGLU → back."""
    return swiglu_map(x.transpose(1, 2), p["gate_up_proj.weight"], p["down_proj.weight"]).transpose(1, 2)


def rmsnorm_op(x, p, cfg):
    return rms_norm(x, cfg.get("eps", 1e-5))


def mamba2_dims(cfg):
    dm = cfg["d_model"]
    n, k = cfg.get("d_state", 128), cfg.get("d_conv", 4)
    e, hp, g = cfg.get("expand", 2), cfg.get("headdim", 64), cfg.get("ngroups", 1)
    din = e * dm
    h = din // hp
    return dict(dm=dm, n=n, k=k, din=din, h=h, p=hp, g=g, conv=din + 2 * g * n, proj=2 * din + 2 * g * n + h)


def ssd_sequential(x, dt, a, b, c):
    """The selective-scan recurrence, one step at a time (the oracle).

    x [B, T, H, P], dt [B, T, H] (after softplus), a [H] (negative), b, c [B, T, H, N] (already
    expanded to heads). S_t = exp(dt_t·a)·S_{t−1} + dt_t·x_t ⊗ b_t; y_t = S_t·c_t. Returns y.
    """
    bsz, seq, h, p = x.shape
    s = x.new_zeros(bsz, h, p, b.shape[-1])
    ys = []
    for t in range(seq):
        decay = torch.exp(dt[:, t] * a)  # [B, H]
        s = s * decay[:, :, None, None] + (dt[:, t, :, None] * x[:, t])[..., None] * b[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", s, c[:, t]))
    return torch.stack(ys, dim=1)


def ssd_chunked(x, dt, a, b, c, q):
    """The same map in chunks of q (the matmul form; the fast peer for the benchmark).

    Pads T up to a multiple of q with dt = 0 (no decay, no input), so padding changes nothing.
    Within a chunk: y_i = Σ_{j≤i} (c_i·b_j) exp(Λ_i − Λ_j) dt_j x_j + c_i · exp(Λ_i) S_in, where
    Λ is the in-chunk cumulative sum of dt·a; the decay matrix is formed by masked segment sums
    (never exp(Λ_i)·exp(−Λ_j)).
    """
    bsz, seq, h, p = x.shape
    n = b.shape[-1]
    pad = (-seq) % q
    if pad:
        x, b, c = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, b, c))
        dt = F.pad(dt, (0, 0, 0, pad))
    nc = (seq + pad) // q
    # [B, nc, q, H, ...] → heads before time: [B, nc, H, q, ...]
    xc = x.view(bsz, nc, q, h, p).permute(0, 1, 3, 2, 4)
    bc = b.view(bsz, nc, q, h, n).permute(0, 1, 3, 2, 4)
    cc = c.view(bsz, nc, q, h, n).permute(0, 1, 3, 2, 4)
    dtc = dt.view(bsz, nc, q, h).permute(0, 1, 3, 2)  # [B, nc, H, q]
    da = dtc * a[None, None, :, None]
    lam = torch.cumsum(da, dim=-1)  # Λ within the chunk
    # segsum[i, j] = Σ_{j<k≤i} da_k, built by masked cumulative sums (stable form).
    rep = da[..., :, None].expand(*da.shape, q)  # rep[..., k, j] = da_k
    strict = torch.tril(torch.ones(q, q, dtype=torch.bool, device=x.device), diagonal=-1)
    seg = torch.cumsum(rep.masked_fill(~strict, 0.0), dim=-2)
    lower = torch.tril(torch.ones(q, q, dtype=torch.bool, device=x.device))
    decay = torch.exp(seg).masked_fill(~lower, 0.0)  # [B, nc, H, q, q]
    xdt = xc * dtc[..., None]
    scores = torch.matmul(cc, bc.transpose(-1, -2)) * decay
    y = torch.matmul(scores, xdt)
    # chunk states (from zero) and their passing between chunks
    to_end = torch.exp(lam[..., -1:] - lam)  # exp(Λ_end − Λ_j), a direct segment sum ≤ 0
    states = torch.matmul((xdt * to_end[..., None]).transpose(-1, -2), bc)  # [B, nc, H, P, N]
    chunk_decay = torch.exp(lam[..., -1])  # [B, nc, H]
    s = x.new_zeros(bsz, h, p, n)
    inits = []
    for i in range(nc):
        inits.append(s)
        s = s * chunk_decay[:, i, :, None, None] + states[:, i]
    s_in = torch.stack(inits, dim=1)  # [B, nc, H, P, N]
    y = y + torch.matmul(cc * torch.exp(lam)[..., None], s_in.transpose(-1, -2))
    return y.permute(0, 1, 3, 2, 4).reshape(bsz, nc * q, h, p)[:, :seq]


def mamba2_causal(u, p, cfg, scan):
    d = mamba2_dims(cfg)
    bsz, seq, _ = u.shape
    din, g, n, h, hp, k = d["din"], d["g"], d["n"], d["h"], d["p"], d["k"]
    zxbcdt = F.linear(u, p["in_proj.weight"])
    z, xbc, dt = torch.split(zxbcdt, [din, d["conv"], h], dim=-1)
    conv = F.conv1d(xbc.transpose(1, 2), p["conv1d.weight"], p["conv1d.bias"], padding=k - 1, groups=d["conv"])
    xbc = F.silu(conv[..., :seq].transpose(1, 2))
    x, b, c = torch.split(xbc, [din, g * n, g * n], dim=-1)
    delta = F.softplus(dt + p["dt_bias"])  # threshold 20
    a = -torch.exp(p["A_log"])
    per = h // g
    b = b.view(bsz, seq, g, n).repeat_interleave(per, dim=2)
    c = c.view(bsz, seq, g, n).repeat_interleave(per, dim=2)
    xh = x.view(bsz, seq, h, hp)
    y = scan(xh, delta, a, b, c) + p["D"][:, None] * xh
    y = y.reshape(bsz, seq, din)
    # gated RMSNorm, norm_before_gate=False, groups of din/g channels, learnable weight
    v = (y * F.silu(z)).view(bsz, seq, g, din // g)
    o = (rms_norm(v, 1e-5).reshape(bsz, seq, din)) * p["norm.weight"]
    return F.linear(o, p["out_proj.weight"])


def mamba2_op(u, p, cfg, scan=None):
    """Mamba-2 layer; bidirectional "shared": the same layer on the time-flipped input, flipped
    back and added."""
    if scan is None:
        scan = ssd_sequential
    out = mamba2_causal(u, p, cfg, scan)
    bidi = cfg.get("bidirectional", False)
    if bidi in (True, "shared"):
        out = out + mamba2_causal(u.flip(1), p, cfg, scan).flip(1)
    elif bidi not in (False, "none"):
        raise ValueError(f"mamba2: unknown bidirectional option {bidi!r}")
    return out


OPS = {"attention": attention_op, "swiglu": swiglu_op, "mlp_t": mlp_t_op, "rmsnorm": rmsnorm_op, "mamba2": mamba2_op}

# ----------------------------------------------------------------------------- parameters


def lecun(gen, fan_out, fan_in):
    return torch.randn(fan_out, fan_in, generator=gen) / math.sqrt(fan_in)


def uniform(gen, shape, bound):
    return (torch.rand(*shape, generator=gen) * 2 - 1) * bound


def make_params(op, cfg, gen):
    """Random parameters under PyTorch state-dict names (seeded; not the training init)."""
    if op == "attention":
        w = cfg["hidden"]
        return {"qkv_proj.weight": lecun(gen, 3 * w, w), "o_proj.weight": lecun(gen, w, w)}
    if op in ("swiglu", "mlp_t"):
        w = cfg["hidden"] if op == "swiglu" else cfg["seq_len"]
        inter = swiglu_inter(w, cfg.get("expansion", 4))
        return {"gate_up_proj.weight": lecun(gen, 2 * inter, w), "down_proj.weight": lecun(gen, w, inter)}
    if op == "rmsnorm":
        return {}
    if op == "mamba2":
        d = mamba2_dims(cfg)
        dt0 = torch.exp(torch.rand(d["h"], generator=gen) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        return {
            "in_proj.weight": uniform(gen, (d["proj"], d["dm"]), 1 / math.sqrt(d["dm"])),
            "conv1d.weight": uniform(gen, (d["conv"], 1, d["k"]), 1 / math.sqrt(d["k"])),
            "conv1d.bias": uniform(gen, (d["conv"],), 1 / math.sqrt(d["k"])),
            "dt_bias": dt0 + torch.log(-torch.expm1(-dt0)),
            "A_log": torch.log(1 + 15 * torch.rand(d["h"], generator=gen)),
            # D and the norm weight start at one in training; random here so their gradients and
            # their use are actually tested.
            "D": 1 + 0.5 * torch.randn(d["h"], generator=gen),
            "norm.weight": 1 + 0.2 * torch.randn(d["din"], generator=gen),
            "out_proj.weight": uniform(gen, (d["dm"], d["din"]), 1 / math.sqrt(d["din"])),
        }
    raise ValueError(f"unknown op {op}")


# ----------------------------------------------------------------------------- cases

M2_SMALL = {"d_model": 16, "d_state": 8, "d_conv": 4, "expand": 2, "headdim": 4, "ngroups": 1, "chunk_size": 4}

# (name, op, config, (B, L, D), golden)
CASES = [
    ("attention_b2_l7_w32_rope", "attention", {"hidden": 32, "num_heads": 4, "rope": True, "rope_base": 10000, "prefix_len": 16}, (2, 7, 32), True),
    ("attention_b1_l1_w16_rope", "attention", {"hidden": 16, "num_heads": 2, "rope": True}, (1, 1, 16), False),
    ("attention_b3_l13_w24_norope", "attention", {"hidden": 24, "num_heads": 3, "rope": False}, (3, 13, 24), False),
    ("attention_b2_l40_w64_rope", "attention", {"hidden": 64, "num_heads": 4, "rope": True, "rope_base": 10000}, (2, 40, 64), False),
    ("swiglu_b2_l5_w16", "swiglu", {"hidden": 16, "expansion": 4}, (2, 5, 16), True),
    ("swiglu_b1_l3_w33", "swiglu", {"hidden": 33}, (1, 3, 33), False),
    ("swiglu_b3_l4_w10_e2", "swiglu", {"hidden": 10, "expansion": 2}, (3, 4, 10), False),
    ("mlp_t_b2_l9_d6", "mlp_t", {"seq_len": 9, "expansion": 4}, (2, 9, 6), True),
    ("mlp_t_b1_l1_d5", "mlp_t", {"seq_len": 1}, (1, 1, 5), False),
    ("mlp_t_b2_l97_d8", "mlp_t", {"seq_len": 97, "expansion": 4}, (2, 97, 8), False),
    ("rmsnorm_b2_l5_d12", "rmsnorm", {"eps": 1e-5}, (2, 5, 12), True),
    ("rmsnorm_b1_l3_d7_eps1e-6", "rmsnorm", {"eps": 1e-6}, (1, 3, 7), False),
    ("mamba2_b2_l11_d16", "mamba2", dict(M2_SMALL), (2, 11, 16), True),
    ("mamba2_b1_l1_d16", "mamba2", dict(M2_SMALL), (1, 1, 16), False),
    ("mamba2_b2_l37_d16_g2_k3_q16", "mamba2", {**M2_SMALL, "ngroups": 2, "d_conv": 3, "chunk_size": 16}, (2, 37, 16), False),
    ("mamba2_b1_l20_d24_e1_n16_h8_q7", "mamba2", {"d_model": 24, "d_state": 16, "d_conv": 4, "expand": 1, "headdim": 8, "ngroups": 1, "chunk_size": 7}, (1, 20, 24), False),
    ("mamba2_b2_l9_d16_bidi", "mamba2", {**M2_SMALL, "bidirectional": "shared"}, (2, 9, 16), True),
]


def write_cases(out_dir, golden_only, seed, ops):
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    written = 0
    for i, (name, op, cfg, shape, golden) in enumerate(CASES):
        if (golden_only and not golden) or (ops and op not in ops):
            continue
        gen.manual_seed(seed * 1000 + i)
        x = torch.randn(*shape, generator=gen)
        if op == "rmsnorm":  # rows of very different scales
            x = x * torch.exp(2 * torch.randn(*shape[:2], 1, generator=gen))
        params = make_params(op, cfg, gen)
        gout = torch.randn(*shape, generator=gen)
        case = {"input": x, "grad_output": gout, **params}
        meta = {"op": op, "config": json.dumps(cfg), "seed": str(seed)}
        write_safetensors(os.path.join(out_dir, f"{name}.case.safetensors"), case, meta)
        xr = x.clone().requires_grad_()
        pr = {k: v.clone().requires_grad_() for k, v in params.items()}
        y = OPS[op](xr, pr, cfg)
        y.backward(gout)
        if op == "mamba2":  # the chunked scan (the benchmark's peer) must agree with the recurrence
            with torch.no_grad():
                y2 = mamba2_op(x, params, cfg, scan=lambda *a: ssd_chunked(*a, cfg.get("chunk_size", 256)))
            err = (y2 - y).abs().max().item() / max(y.abs().max().item(), 1e-30)
            if err > 1e-5:
                raise AssertionError(f"{name}: chunked scan differs from the recurrence: rel err {err:.3g}")
        out = {"output": y, "grad.input": xr.grad}
        for k, v in pr.items():
            out[f"grad.{k}"] = v.grad
        write_safetensors(os.path.join(out_dir, f"{name}.torch.safetensors"), out,
                          {"op": op, "config": json.dumps(cfg), "torch": torch.__version__})
        written += 1
    print(f"wrote {written} cases to {out_dir}")


# ----------------------------------------------------------------------------- compare

# err_i ≤ ATOL·max|ref| + RTOL·|ref_i| per element. Both sides compute in float32 with different
# summation orders; the scale-aware absolute term absorbs the cancellation near zero. The same rule
# as operators/testing.ts (TOL_OPS_F32); measured errors are below 1e-6 of each tensor's scale.
TOL = {"default": (1e-5, 1e-4)}


def compare_tensors(ours, ref, atol, rtol):
    ours, ref = ours.double().flatten(), ref.double().flatten()
    if ours.numel() != ref.numel():
        return float("inf"), float("inf"), False
    if ref.numel() == 0:
        return 0.0, 0.0, True
    scale = ref.abs().max().item()
    err = (ours - ref).abs()
    ok = bool(torch.all(err <= atol * scale + rtol * ref.abs()).item()) and bool(torch.isfinite(ours).all())
    return err.max().item(), err.max().item() / max(scale, 1e-30), ok


def compare(case_dir, backend, out_dir):
    """Our OUT files go to out_dir (a temporary folder unless given), never beside the cases."""
    cases = sorted(f for f in os.listdir(case_dir) if f.endswith(".case.safetensors"))
    if not cases:
        print(f"compare: no *.case.safetensors in {case_dir}", file=sys.stderr)
        return 1
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="op-check-") as tmp:
            return compare(case_dir, backend, tmp)
    os.makedirs(out_dir, exist_ok=True)
    failed = 0
    print(f"{'case':42} {'tensor':28} {'max abs':>10} {'max rel':>10}  result")
    for f in cases:
        stem = f[: -len(".case.safetensors")]
        case_path = os.path.join(case_dir, f)
        ours_path = os.path.join(out_dir, f"{stem}.ours.safetensors")
        cmd = ["deno", "task", "-q", "op-check", case_path, ours_path]
        if backend:
            cmd += ["--backend", backend]
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if r.returncode != 0:
            failed += 1
            print(f"{stem:42} {'(op-check failed)':28} {'':>10} {'':>10}  FAIL: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
            continue
        ours, _ = read_safetensors(ours_path)
        ref, meta = read_safetensors(os.path.join(case_dir, f"{stem}.torch.safetensors"))
        atol, rtol = TOL.get(meta.get("op", ""), TOL["default"])
        for name in sorted(ref):
            if name not in ours:
                failed += 1
                print(f"{stem:42} {name:28} {'':>10} {'':>10}  FAIL: missing in our OUT")
                continue
            mabs, mrel, ok = compare_tensors(ours[name], ref[name], atol, rtol)
            failed += not ok
            print(f"{stem:42} {name:28} {mabs:10.3g} {mrel:10.3g}  {'ok' if ok else 'FAIL'}")
        extra = sorted(set(ours) - set(ref))
        if extra:
            failed += 1
            print(f"{stem:42} {','.join(extra):28} {'':>10} {'':>10}  FAIL: not in PyTorch's OUT")
    print(f"compare: {len(cases)} cases, {failed} failures (tolerance |err| ≤ atol·max|ref| + rtol·|ref|: {TOL})")
    return 1 if failed else 0


# ----------------------------------------------------------------------------- bench


M2_DEFAULT = {"d_model": 512, "d_state": 128, "d_conv": 4, "expand": 2, "headdim": 64, "ngroups": 1, "chunk_size": 256}


def bench(threads, reps, shapes, ops, m2_chunk):
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    d = 512
    emit_peer_info()
    for bsz, seq in shapes:
        for op in ops:
            cfg = {
                "attention": {"hidden": d, "num_heads": 8, "rope": True},
                "swiglu": {"hidden": d},
                "mlp_t": {"seq_len": seq},
                "mamba2": {**M2_DEFAULT, "chunk_size": m2_chunk},
            }[op]
            params = {k: v.requires_grad_() for k, v in make_params(op, cfg, gen).items()}
            x = torch.randn(bsz, seq, d, generator=gen, requires_grad=True)
            g = torch.randn(bsz, seq, d, generator=gen)
            fn = OPS[op]
            if op == "mamba2":
                q = cfg["chunk_size"]
                fn = lambda u, p, c: mamba2_op(u, p, c, scan=lambda *a: ssd_chunked(*a, q))

            def step():
                x.grad = None
                for v in params.values():
                    v.grad = None
                fn(x, params, cfg).backward(g)

            t = best_time(step, reps)
            print(json.dumps({"name": op, "shape": f"{bsz}x{seq}x{d}", "metric": "fwd_bwd_s", "value": t, "unit": "s",
                              "measured_at": now_iso()}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    w = sub.add_parser("write-cases")
    w.add_argument("dir")
    w.add_argument("--golden", action="store_true", help="only the small committed fixtures")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--ops", default="", help="comma-separated subset of ops")
    c = sub.add_parser("compare")
    c.add_argument("dir")
    c.add_argument("--backend", choices=["ref", "cpu", "auto"])
    c.add_argument("--out-dir", help="where our OUT files go (default: a temporary folder)")
    b = sub.add_parser("bench")
    b.add_argument("--threads", type=int, default=os.cpu_count())
    b.add_argument("--reps", type=int, default=3)
    b.add_argument("--shapes", default="8x916,64x97")
    b.add_argument("--ops", default="attention,swiglu,mlp_t,mamba2")
    b.add_argument("--mamba2-chunk", type=int, default=64, help="chunk length of the PyTorch SSD")
    args = ap.parse_args()
    if args.mode == "write-cases":
        write_cases(args.dir, args.golden, args.seed, [o for o in args.ops.split(",") if o])
        return 0
    if args.mode == "compare":
        return compare(args.dir, args.backend, args.out_dir)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    bench(args.threads, args.reps, shapes, [o for o in args.ops.split(",") if o], args.mamba2_chunk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
