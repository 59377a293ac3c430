#!/usr/bin/env python3
"""The peer figures beside `mamba4j bench --backend cuda`, on the same card in the same lease: transformers'
MambaForCausalLM / Mamba2ForCausalLM (random init, bf16, on the GPU) prefill of a 2,048-token prompt and greedy decode
of 128 tokens after a 16-token prompt at batch 1 and 64, as `generate` runs them (its cache; whatever kernels this
install has: mamba_ssm's and causal_conv1d's CUDA paths when importable, else transformers' torch paths). Prints one
markdown row per shape and which path ran.

usage (GPU host): python3 tools/bench/transformers_decode.py [mamba-130m mamba2-130m ...]
"""
import importlib.util
import sys
import time

import torch
import transformers

SHAPES = {   # the published configs' sizes (state-spaces/mamba-130m-hf, mamba2-130m, mamba-1.4b-hf, mamba2-1.3b)
    "mamba-130m": ("mamba", dict(hidden_size=768, num_hidden_layers=24)),
    "mamba-1.4b": ("mamba", dict(hidden_size=2048, num_hidden_layers=48)),
    "mamba2-130m": ("mamba2", dict(hidden_size=768, num_hidden_layers=24, num_heads=24, head_dim=64, state_size=128, n_groups=1)),
    "mamba2-1.3b": ("mamba2", dict(hidden_size=2048, num_hidden_layers=48, num_heads=64, head_dim=64, state_size=128, n_groups=1)),
}


def model_of(shape):
    kind, kw = SHAPES[shape]
    if kind == "mamba":
        cfg = transformers.MambaConfig(vocab_size=50280, state_size=16, expand=2, conv_kernel=4, **kw)
        return transformers.MambaForCausalLM(cfg)
    cfg = transformers.Mamba2Config(vocab_size=50280, expand=2, conv_kernel=4, chunk_size=256, **kw)
    return transformers.Mamba2ForCausalLM(cfg)


def timed(fn, reps=3):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    shapes = sys.argv[1:] or ["mamba-130m", "mamba2-130m"]
    kernels = {m: importlib.util.find_spec(m) is not None for m in ("mamba_ssm", "causal_conv1d")}
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name()}, kernels importable: {kernels}")
    print("| shape (bf16) | transformers prefill 2k tok/s | decode b1 tok/s | decode b64 tok/s |")
    print("|---|---|---|---|")
    for shape in shapes:
        torch.manual_seed(0)
        m = model_of(shape).to("cuda", torch.bfloat16).eval()
        g = torch.Generator(device="cuda").manual_seed(1)
        with torch.no_grad():
            long = torch.randint(0, 50280, (1, 2048), device="cuda", generator=g)
            pre = 2048 / timed(lambda: m(long), reps=2)
            row = [f"{pre:,.0f}"]
            for b in (1, 64):
                p = torch.randint(0, 50280, (b, 16), device="cuda", generator=g)
                run = lambda: m.generate(p, max_new_tokens=128, min_new_tokens=128, do_sample=False, pad_token_id=0)
                secs = timed(run, reps=1)
                row.append(f"{b * 128 / secs:,.1f}")
        print(f"| {shape} | " + " | ".join(row) + " |", flush=True)
        del m
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
