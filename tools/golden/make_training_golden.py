#!/usr/bin/env python3
"""Write the training golden files (testdata/golden/training/<case>/ and manifest.json): ten optimizer steps of a
tiny Mamba-1 and a tiny Mamba-2 in float64 PyTorch, as llm.c's expected_losses.

Each case starts from a tiny random transformers model (MambaForCausalLM / Mamba2ForCausalLM) perturbed away from
its init and rounded to float32 (the helpers of make_mamba1_golden.py / make_mamba2_golden.py), saved with
save_pretrained. That checkpoint is reloaded in float64 and trained for STEPS optimizer steps on FIXED batches
(written to the case folder, so data order is not in question) with what mamba4j's trainer does
(nn/src/main/java/mamba4j/nn/{Trainer,AdamW,GradClip,Schedule}.java), written here from its documented definition
with PyTorch's own pieces:

  per step: zero grads; for each of `accumulation` micro-batches: loss_a = mean cross-entropy of the logits
            against the targets over the counted targets (-100 ignored), (loss_a / accumulation).backward();
            step loss = mean of the loss_a;
            norm = torch.nn.utils.clip_grad_norm_(all parameters, grad_clip) (global L2 norm, before clipping;
            grads scaled by grad_clip / (norm + 1e-6) when norm > grad_clip);
            torch.optim.AdamW(betas, eps; weight_decay on the decayed group, 0 on the rest) at
            lr = settings.lr * multiplier(step) through torch.optim.lr_scheduler.LambdaLR (step 0-based);
  multiplier: linear warmup (step + 1) / warmup for step < warmup, then
            cosine: min + (1 - min) * 0.5 * (1 + cos(pi * min(1, (step - warmup) / (steps - 1 - warmup))))
            wsd:    1 until decay_start = steps - round(decay_fraction * steps), then
                    1 - (1 - min) * min(1, (step - decay_start + 1) / round(decay_fraction * steps));
  weight decay: on every `.weight` whose name has no "norm" (embedding, in_proj, conv1d, x_proj, dt_proj, out_proj,
            lm_head), none on norms, biases, A_log, D, dt_bias (mamba_ssm's _no_weight_decay + norms and biases).

The forward is transformers' own torch path in float64 with its float32 casts turned into no-ops
(`float64_everywhere` of make_mamba1_golden.py). grad_clip is chosen per case from a first pass without clipping
(the median of its gradient norms, 3 significant digits) so that some steps are clipped and some are not, and moved
until no step's norm lies within 0.5% of it (so float32 cannot take the other branch). The same ten steps are also
run in float32 PyTorch as a yardstick for the float32-vs-float64 differences a float32 trainer must be allowed
(manifest "float32_torch_vs_float64").

Files per case (testdata/golden/training/<case>/):
  config.json + model.safetensors   the initial checkpoint, float32 (save_pretrained)
  settings.json                     the training settings as mamba4j's TrainSettings JSON keys
  batches.safetensors               input_ids I64 [STEPS, ACCUM, B, T], targets I64 [STEPS, ACCUM, B, T]
                                    (micro-batch a of step s is [s, a]; targets = next tokens, some -100)
  expected.safetensors              loss F64 [STEPS], grad_norm F64 [STEPS] (before clipping), lr F64 [STEPS],
                                    final.<name> F64 for every parameter after the last step (named_parameters(),
                                    = checkpoint names; conv1d.weight [C, 1, K]; a tied embedding once)

usage: python3 tools/golden/make_training_golden.py --out testdata/golden/training
"""
import argparse
import datetime
import json
import math
import os
import platform
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in tools/golden/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_mamba1_golden as m1  # noqa: E402
import make_mamba2_golden as m2  # noqa: E402
from make_mamba1_golden import float64_everywhere  # noqa: E402

STEPS, ACCUM, B, T = 10, 2, 2, 24
IGNORE = -100
CLIP_MARGIN = 5e-3   # no step's gradient norm within this relative distance of grad_clip

COMMON_SETTINGS = dict(lr=2e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, batch_size=B, seq_len=T,
                       steps=STEPS, accumulation=ACCUM, min_lr_ratio=0.1, seed=1234)

CASES = [
    dict(name="mamba1", family="mamba1", seed=9101, vocab=64, hidden=32, layers=2, state=8, conv=4, expand=2,
         dt_rank=4, use_bias=False, use_conv_bias=True, tie=True,
         settings=dict(COMMON_SETTINGS, warmup=3, schedule="cosine", decay_fraction=0.2)),
    dict(name="mamba2", family="mamba2", seed=9201, vocab=64, hidden=32, heads=4, head_dim=16, expand=2, state=16,
         groups=1, layers=2, conv=4, chunk=16, use_bias=False, tie=False, limit=None,
         settings=dict(COMMON_SETTINGS, warmup=2, schedule="wsd", decay_fraction=0.3)),
]


def multiplier(s, step):
    """mamba4j's Schedule, from its documented formula (see the module docstring)."""
    total, warm, mn = s["steps"], s["warmup"], s["min_lr_ratio"]
    if step < warm:
        return (step + 1) / warm
    if s["schedule"] == "constant":
        return 1.0
    if s["schedule"] == "cosine":
        span = total - 1 - warm
        progress = 1.0 if span <= 0 else min(1.0, (step - warm) / span)
        return mn + (1 - mn) * 0.5 * (1 + math.cos(math.pi * progress))
    assert s["schedule"] == "wsd", s["schedule"]
    decay = max(1, int(math.floor(s["decay_fraction"] * total + 0.5)))   # Java Math.round (half up)
    start = total - decay
    if step < start:
        return 1.0
    return 1 - (1 - mn) * min(1.0, (step - start + 1) / decay)


def decays(name):
    return name.endswith(".weight") and "norm" not in name


def make_batches(vocab, gen):
    """Arithmetic progressions mod vocab (random start, stride 1..3) with 10% random tokens: learnable, so the loss
    moves over ten steps. targets = the next token; the first 3 targets of [step 0, micro 0, row 0] are ignored."""
    ids = torch.empty(STEPS, ACCUM, B, T, dtype=torch.int64)
    tgt = torch.empty(STEPS, ACCUM, B, T, dtype=torch.int64)
    for s in range(STEPS):
        for a in range(ACCUM):
            for b in range(B):
                start = int(torch.randint(0, vocab, (1,), generator=gen))
                stride = int(torch.randint(1, 4, (1,), generator=gen))
                seq = (start + stride * torch.arange(T + 1, dtype=torch.int64)) % vocab
                noise = torch.rand(T + 1, generator=gen) < 0.1
                seq = torch.where(noise, torch.randint(0, vocab, (T + 1,), generator=gen, dtype=torch.int64), seq)
                ids[s, a, b] = seq[:T]
                tgt[s, a, b] = seq[1:]
    tgt[0, 0, 0, :3] = IGNORE
    return ids, tgt


def load(c, folder, dtype):
    from transformers import Mamba2ForCausalLM, MambaForCausalLM
    cls = MambaForCausalLM if c["family"] == "mamba1" else Mamba2ForCausalLM
    return cls.from_pretrained(folder, dtype=dtype).eval()


def train(c, folder, ids, tgt, clip, dtype):
    """STEPS steps from the checkpoint in `folder`; returns (losses, norms, lrs, final named parameters)."""
    s = c["settings"]
    model = load(c, folder, dtype)
    named = list(model.named_parameters())          # tied parameters once
    params = [p for _, p in named]
    groups = [{"params": [p for n, p in named if decays(n)], "weight_decay": s["weight_decay"]},
              {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=s["lr"], betas=(s["beta1"], s["beta2"]), eps=s["eps"], foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: multiplier(s, step))
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for a in range(ACCUM):
            if dtype == torch.float64:
                with float64_everywhere():
                    logits = model(input_ids=ids[step, a], use_cache=False).logits
                assert logits.dtype == torch.float64, logits.dtype
            else:
                logits = model(input_ids=ids[step, a], use_cache=False).logits
            v = logits.shape[-1]
            loss = F.cross_entropy(logits.reshape(-1, v), tgt[step, a].reshape(-1), ignore_index=IGNORE)
            (loss / ACCUM).backward()
            total += loss.item()
        lr = opt.param_groups[0]["lr"]
        assert abs(lr - s["lr"] * multiplier(s, step)) <= 1e-15 * s["lr"], (step, lr)
        assert all(g["lr"] == lr for g in opt.param_groups)
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm=clip if clip > 0 else float("inf"))
        opt.step()
        sched.step()
        losses.append(total / ACCUM)
        norms.append(float(norm))
        lrs.append(lr)
    final = {n: p.detach().to(torch.float64).clone() for n, p in named}
    return losses, norms, lrs, final


def rel(a, b):
    return ((a - b).norm() / b.norm()).item() if b.norm() > 0 else (a - b).norm().item()


def build_case(c, outdir):
    from safetensors.torch import save_file
    from transformers import Mamba2ForCausalLM, MambaForCausalLM

    folder = os.path.join(outdir, c["name"])
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(c["seed"])
    if c["family"] == "mamba1":
        model = MambaForCausalLM(m1.make_config(c, c["vocab"])).eval()
        m1.perturb(model, torch.Generator().manual_seed(c["seed"] + 1))
    else:
        assert c["hidden"] * c["expand"] == c["heads"] * c["head_dim"]
        model = Mamba2ForCausalLM(m2.make_config(c)).eval()
        m2.perturb(model, torch.Generator().manual_seed(c["seed"] + 1))
    model = model.to(torch.float32)
    rounded = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.save_pretrained(folder, safe_serialization=True)
    with open(os.path.join(folder, "config.json")) as f:
        saved_cfg = json.load(f)
    check64 = load(c, folder, torch.float64)
    sd64 = check64.state_dict()
    for k, v in rounded.items():
        assert torch.equal(sd64[k], v.to(torch.float64)), k
    names = [n for n, _ in check64.named_parameters()]
    del check64

    ids, tgt = make_batches(c["vocab"], torch.Generator().manual_seed(c["seed"] + 2))
    save_file({"input_ids": ids.contiguous(), "targets": tgt.contiguous()}, os.path.join(folder, "batches.safetensors"))

    # grad_clip: the median gradient norm of an unclipped run, moved off every step's norm
    _, free_norms, _, _ = train(c, folder, ids, tgt, 0.0, torch.float64)
    clip = float(f"{sorted(free_norms)[STEPS // 2]:.3g}")
    for attempt in range(20):
        losses, norms, lrs, final = train(c, folder, ids, tgt, clip, torch.float64)
        closest = min(abs(n - clip) / clip for n in norms)
        if closest > CLIP_MARGIN:
            break
        print(f"[{c['name']}] grad_clip {clip}: a norm is {closest:.2e} away; moving it", flush=True)
        clip = float(f"{clip * 1.013:.4g}")
    else:
        raise AssertionError(f"{c['name']}: no grad_clip with every norm {CLIP_MARGIN} away")
    clipped = [n > clip for n in norms]
    assert all(math.isfinite(x) for x in losses + norms), (losses, norms)
    if not (0 < sum(clipped) < STEPS):
        print(f"[{c['name']}] WARNING: clipped at {sum(clipped)} of {STEPS} steps", flush=True)

    # the same in float32 PyTorch: the yardstick for a float32 trainer
    l32, n32, _, f32 = train(c, folder, ids, tgt, clip, torch.float32)
    initial = {n: sd64[n].to(torch.float64) for n in names}
    f32_info = {
        "loss_max_rel_diff": max(abs(a - b) / abs(b) for a, b in zip(l32, losses)),
        "loss_rel_diff_per_step": [abs(a - b) / abs(b) for a, b in zip(l32, losses)],
        "grad_norm_max_rel_diff": max(abs(a - b) / abs(b) for a, b in zip(n32, norms)),
        "final_weights_max_rel_err": max(rel(f32[n], final[n]) for n in names),
        "update_max_rel_err": max(rel(f32[n] - initial[n], final[n] - initial[n]) for n in names),
        "final_weights_rel_err": {n: rel(f32[n], final[n]) for n in names},
        "update_rel_err": {n: rel(f32[n] - initial[n], final[n] - initial[n]) for n in names},
    }

    settings = dict(c["settings"], grad_clip=clip)
    with open(os.path.join(folder, "settings.json"), "w") as f:
        json.dump(settings, f, indent=1)
    exp = {"loss": torch.tensor(losses, dtype=torch.float64), "grad_norm": torch.tensor(norms, dtype=torch.float64),
           "lr": torch.tensor(lrs, dtype=torch.float64)}
    for n in names:
        exp["final." + n] = final[n].contiguous()
    save_file(exp, os.path.join(folder, "expected.safetensors"))
    print(f"[{c['name']}] grad_clip {clip}, clipped {sum(clipped)}/{STEPS}; loss {losses[0]:.5f} -> {losses[-1]:.5f}; "
          f"float32 torch vs float64: loss {f32_info['loss_max_rel_diff']:.2e}, weights "
          f"{f32_info['final_weights_max_rel_err']:.2e}, update {f32_info['update_max_rel_err']:.2e}", flush=True)
    return {
        "folder": c["name"], "case": {k: v for k, v in c.items() if k != "settings"}, "settings": settings,
        "config_json": saved_cfg, "parameters": names, "weight_decay": [n for n in names if decays(n)],
        "no_weight_decay": [n for n in names if not decays(n)],
        "seeds": {"model_init": c["seed"], "perturbation": c["seed"] + 1, "batches": c["seed"] + 2},
        "loss": losses, "grad_norm": norms, "lr": lrs, "clipped": clipped, "unclipped_run_grad_norm": free_norms,
        "update_norm": {n: (final[n] - initial[n]).norm().item() for n in names},
        "float32_torch_vs_float64": f32_info,
        "files": m1.sizes(folder),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="output folder, e.g. testdata/golden/training")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    import safetensors
    import transformers
    cases = [build_case(c, args.out) for c in CASES]
    manifest = {
        "what": "ten AdamW steps (warmup + cosine / wsd schedule, global-norm clipping, gradient accumulation) of a "
                "tiny Mamba-1 and Mamba-2 in float64 PyTorch: per-step losses, gradient norms, learning rates and the "
                "final weights (llm.c's expected_losses)",
        "generator": "tools/golden/make_training_golden.py",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": torch.__version__, "transformers": transformers.__version__, "safetensors": safetensors.__version__,
        "steps": STEPS, "accumulation": ACCUM, "batch": B, "seq_len": T,
        "method": __doc__.split("Files per case")[0].strip(),
        "files": {
            "config.json + model.safetensors": "initial checkpoint, float32",
            "settings.json": "TrainSettings keys (grad_clip chosen per case)",
            "batches.safetensors": "input_ids, targets I64 [steps, accumulation, batch, seq_len]; -100 = ignored",
            "expected.safetensors": "loss, grad_norm (before clipping), lr F64 [steps]; final.<name> F64",
        },
        "cases": cases,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
