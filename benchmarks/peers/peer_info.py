"""What decides a PyTorch peer's speed, as this process sees it: the line our benchmarks record.

    from peer_info import peer_info, emit_peer_info, now_iso
    emit_peer_info()   # prints {"name": "peer_info", "torch_version", "openblas_core", ...}

- torch_version: torch.__version__
- openblas_core: the core type OpenBLAS chose (`openblas_get_corename` of the libopenblas that
  torch loaded, found in /proc/self/maps; "" when torch loaded no OpenBLAS). OPENBLAS_CORETYPE in
  the environment overrides OpenBLAS's own choice: this is where a crippled peer shows.
- cpu_capability: torch's vectorised-kernel level (torch.backends.cpu.get_cpu_capability where it
  exists, else "CPU capability usage: X" of torch.__config__.show(); "" if neither says).
- threads: torch.get_num_threads(); blas_threads: openblas_get_num_threads() (Debian's OpenBLAS is
  the pthread build: torch.set_num_threads does not set it, OPENBLAS_NUM_THREADS does).
- openblas_coretype_env, openblas_l2_size_env: the two variables as this process got them ("" when
  unset: our benchmarks unset them for every peer).

Run by hand it prints the line: /usr/bin/python3 benchmarks/peers/peer_info.py
"""
import ctypes
import datetime
import json
import os
import re


def now_iso():
    """The time now as JavaScript's Date.toISOString writes it (UTC, milliseconds, "Z")."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _openblas_libs():
    """Paths of the loaded libraries that look like OpenBLAS, libopenblas* first."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line and "openblas" in line.lower()}
    except OSError:
        return []
    return sorted(paths, key=lambda p: (not os.path.basename(p).startswith("libopenblas"), p))


def _openblas_call(symbol, restype):
    for path in _openblas_libs():
        try:
            fn = getattr(ctypes.CDLL(path), symbol)
        except (OSError, AttributeError):
            continue
        fn.restype = restype
        return fn()
    return None


def openblas_corename():
    v = _openblas_call("openblas_get_corename", ctypes.c_char_p)
    return v.decode("ascii", "replace").strip() if v else ""


def openblas_threads():
    v = _openblas_call("openblas_get_num_threads", ctypes.c_int)
    return int(v) if v is not None else None


def cpu_capability(torch):
    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    if get is not None:
        try:
            return str(get())
        except Exception:  # noqa: BLE001 - fall back to the config text
            pass
    try:
        m = re.search(r"CPU capability usage:\s*(\S+)", torch.__config__.show())
    except Exception:  # noqa: BLE001
        return ""
    return m.group(1) if m else ""


def peer_info():
    """The peer_info object (import torch and set its threads first)."""
    import torch
    return {
        "name": "peer_info",
        "torch_version": torch.__version__,
        "openblas_core": openblas_corename(),
        "cpu_capability": cpu_capability(torch),
        "threads": torch.get_num_threads(),
        "blas_threads": openblas_threads(),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
        "openblas_l2_size_env": os.environ.get("OPENBLAS_L2_SIZE", ""),
        "measured_at": now_iso(),
    }


def emit_peer_info(**extra):
    """Prints the peer_info line (with `extra` fields) to stdout and returns it."""
    info = {**peer_info(), **extra}
    print(json.dumps(info), flush=True)
    return info


if __name__ == "__main__":
    emit_peer_info()
