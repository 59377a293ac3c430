#!/usr/bin/env python3
"""mamba_ssm's own figures beside `mamba4j bench --backend cuda`, on the same card in the same lease (issue "CUDA
backend", part 8): MambaLMHeadModel (random init, bf16) at the mamba-130m, mamba-1.4b, mamba2-130m and mamba2-1.3b
shapes; decode with its `generate(cg=True)` (CUDA graphs; 16-token prompt, 128 new tokens, greedy) at batch 1 and 64,
and the forward of one 2,048- and 16,384-token sequence (Mamba-2: the Triton chunked SSD). The GPU host has no network:
mamba_ssm comes from a snapshot of the public repository state-spaces/mamba unpacked into an ignored folder
(.golden-tmp/mamba/mamba_ssm, carried to the host) and runs as pure Python + Triton, without its compiled CUDA
extension (Mamba-1's prompt then goes through its reference scan; its decode step is the Triton/torch step).

usage (GPU host): python3 tools/bench/mamba_ssm_bench.py [--src .golden-tmp/mamba] [shape ...]
"""
import argparse
import os
import sys
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from transformers_decode import timed  # noqa: E402  best of 3 after a warm-up, synchronised

SHAPES = {   # d_model, layers, ssm_cfg (the published checkpoints' sizes; vocab 50280 padded to a multiple of 8)
    "mamba-130m": (768, 24, {"layer": "Mamba1"}),
    "mamba-1.4b": (2048, 48, {"layer": "Mamba1"}),
    "mamba2-130m": (768, 24, {"layer": "Mamba2"}),
    "mamba2-1.3b": (2048, 48, {"layer": "Mamba2"}),
}


def import_mamba_ssm(src):
    sys.path.insert(0, src)
    # The package __init__ imports Mamba3, whose optional back ends (tilelang, cute) may be absent: stub the module
    # when it fails to import so Mamba-1 and Mamba-2 still load.
    try:
        import mamba_ssm  # noqa: F401
    except Exception as e:  # noqa: BLE001
        print(f"(mamba_ssm import: {type(e).__name__}: {e}; retrying with mamba3 stubbed)")
        for k in [k for k in sys.modules if k.startswith("mamba_ssm")]:
            del sys.modules[k]
        stub = types.ModuleType("mamba_ssm.modules.mamba3")
        stub.Mamba3 = None
        sys.modules["mamba_ssm.modules.mamba3"] = stub
        import mamba_ssm  # noqa: F401
    import mamba_ssm.modules.mamba_simple as simple
    import mamba_ssm.ops.selective_scan_interface as ssi
    if getattr(ssi, "selective_scan_cuda", None) is None:   # no extension: Mamba-1's prompt through the reference scan
        simple.selective_scan_fn = ssi.selective_scan_ref
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    return MambaConfig, MambaLMHeadModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=".golden-tmp/mamba")
    ap.add_argument("--no-decode", action="store_true", help="the forward columns only")
    ap.add_argument("shapes", nargs="*")
    a = ap.parse_args()
    MambaConfig, MambaLMHeadModel = import_mamba_ssm(a.src)
    import mamba_ssm
    print(f"mamba_ssm {mamba_ssm.__version__} (snapshot, no CUDA extension), torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print("| shape (bf16) | mamba_ssm decode b1 tok/s | decode b64 tok/s (aggregate) | forward 2k tok/s | forward 16k tok/s |")
    print("|---|---|---|---|---|")
    for shape in a.shapes or list(SHAPES):
        d, n, ssm = SHAPES[shape]
        cells = []
        try:
            cfg = MambaConfig(d_model=d, n_layer=n, vocab_size=50280, ssm_cfg=ssm, rms_norm=True, residual_in_fp32=True,
                              fused_add_norm=True, pad_vocab_size_multiple=8)
            torch.manual_seed(0)
            model = MambaLMHeadModel(cfg, device="cuda", dtype=torch.bfloat16).eval()
            for b in () if a.no_decode else (1, 64):
                ids = torch.randint(0, 50280, (b, 16), device="cuda")
                try:
                    with torch.inference_mode():
                        s = timed(lambda: model.generate(ids, max_length=16 + 128, cg=True, top_k=1))
                    cells.append(f"{b * 128 / s:,.0f}")
                except Exception as e:  # noqa: BLE001
                    cells.append(f"failed: {type(e).__name__}: {str(e)[:80]}")
            for L in (2048, 16384):
                if ssm["layer"] == "Mamba1":   # its forward would be the reference scan, not mamba_ssm's kernel
                    cells.append("n/a (no CUDA extension)")
                    continue
                ids = torch.randint(0, 50280, (1, L), device="cuda")
                for m in model.modules():   # the fused split+conv+scan path needs causal_conv1d's extension: take the
                    if hasattr(m, "use_mem_eff_path"):   # unfused one (torch conv1d, then the Triton chunked SSD)
                        m.use_mem_eff_path = False
                try:
                    with torch.inference_mode():
                        s = timed(lambda: model(ids))
                    cells.append(f"{L / s:,.0f}")
                except Exception as e:  # noqa: BLE001
                    cells.append(f"failed: {type(e).__name__}: {str(e)[:80]}")
                torch.cuda.empty_cache()
            del model
            torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001
            cells = [f"failed: {type(e).__name__}: {str(e)[:120]}"] + [""] * 3
        print(f"| {shape} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
