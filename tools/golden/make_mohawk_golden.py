#!/usr/bin/env python3
"""Write the MOHAWK golden files (testdata/golden/mohawk/<case>/ and manifest.json): the Discrete Mamba-2 mixer,
its materialised matrix and the three MOHAWK stage losses, computed by goombalab/phi-mamba's own reference code.

phi-mamba (https://github.com/goombalab/phi-mamba) is NOT part of this repository: take a snapshot of it into an
ignored folder (default .golden-tmp/phi-mamba, or --phi-mamba DIR); this script puts it on sys.path and imports
  modules.backbone.MixerModel      the student backbone: embedding, Blocks, final LayerNorm
  modules.phi_block.Block          Phi-Mamba block: h + mixer(LN h) + mlp(LN h); run_mlp_component=False gives the
                                   mixer alone, return_mixer_matrix=True its materialised matrix
  modules.mixers.discrete_mamba2   the Discrete Mamba-2 mixer (in_proj -> conv -> x|B|C, z, A_log -> SSD -> D skip ->
                                   out_proj(y * silu(z + z_bias)))
  modules.mixers.discrete_mamba2_ref   materialize_mixer (the L x L matrix per head) and ssd_minimal_discrete
and computes everything in float64 on the CPU. The student's lm_head is a plain nn.Linear(d_model, vocab, bias=True)
as phi-mamba's modules/lm_head.py builds it (that file is not imported: it needs mamba_ssm's GenerationMixin and
huggingface_hub, which play no part in the numbers).

mamba_ssm is not installed (its kernels are CUDA/Triton): discrete_mamba2.py imports mamba_chunk_scan_combined from
it. A stand-in module is registered in sys.modules before the import; it implements mamba_chunk_scan_combined's
documented semantics (dt <- softplus(dt + dt_bias) if dt_softplus; head h reads B/C group h // (heads/groups);
y = SSD(X = x * dt, log-decay = dt * A)) by calling phi-mamba's OWN chunked reference ssd_minimal_discrete. So the
mixer's SSD core is phi-mamba's reference code, and nothing of mamba4j is involved. Every mixer output is also
checked (< 1e-10) against an independent sequential float64 recurrence written here from the MATH.md definition
(`ref_mixer`), and phi-mamba's materialised matrix against y = T x of that reference.

The teacher is a tiny perturbed transformers PhiForCausalLM (make_teachers_golden.py's helpers: float32 checkpoint,
reloaded float64, eager attention, float32 casts disabled, rotary inv_freq in float64), cross-checked against that
script's independent float64 Phi (`phi_forward`). The student takes the teacher's embedding, input LayerNorms, MLPs,
final LayerNorm and lm_head (MOHAWK's weight transfer); its mixers start from phi-mamba's own init (torch seed) and
are perturbed (D, z_bias, conv bias, weights) so that no parameter sits at a special value.

The stage losses, as phi-mamba's assets/mohawk_stage1.py and assets/mohawk_stage2.py compute them for one layer l,
with the TEACHER's residual stream h_l (h_0 = embedding output, h_{l+1} = output of teacher block l, before the final
norm) as the student block's input:
  stage1.<l> = torch.linalg.matrix_norm(T_student,l - A_teacher,l, ord="fro").mean()   mean over (batch, head) of
               the Frobenius norm (NOT squared); T = Block(h_l, run_mlp_component=False, return_mixer_matrix=True)
               ["transfer_matrix"], A = the teacher's attention probabilities (B, H, L, L)
  stage2.<l> = torch.norm(Block(h_l)["hidden_states"] - h_{l+1}, p=2, dim=-1).mean()   mean over (batch, token) of
               the L2 norm (NOT squared): the whole block (freeze_mlp = False in mohawk_stage2.py)
  stage1, stage2 = the sums over layers (phi-mamba calls backward per layer, so its gradient is the sum's)
  stage3     = mean over tokens of the cross-entropy of the student's logits against the teacher's softmax
               (temperature 1, no hard-label term): F.cross_entropy(student_logits, softmax(teacher_logits)).
               phi-mamba's repository has no stage-3 code; this is the paper's L_CE(teacher, student).

Files (testdata/golden/mohawk/<case>/):
  teacher/config.json + model.safetensors      transformers PhiForCausalLM, float32
  student/config.json + model.safetensors      mamba4j's phi-mamba checkpoint: the teacher's config keys +
                                               model_type "phi-mamba", ssm_cfg, attn_layers [], lm_head_bias; tensors
                                               under phi-mamba's own state_dict names (backbone.*, lm_head.*), float32
  input.safetensors     input_ids I64 [B, L]
  expected.safetensors  teacher_residual.<l> F64 [B, L, D] l = 0..n_layer; teacher_attention.<l> F64 [B, H, L, L];
                        teacher_logits F64 [B, L, V];
                        mixer_input.<l> F64 [B, L, D] = the student's input_layernorm_l(h_l) (what the mixer reads);
                        mixer_output.<l> F64 [B, L, D]; matrix.<l> F64 [B, H, L, L] (transfer_matrix, D on the diagonal);
                        block_output.<l> F64 [B, L, D] = Block_l(h_l) (stage 2's student side);
                        student_logits F64 [B, L, V] (the student end to end);
                        stage1.<l>, stage2.<l>, stage1, stage2, stage3 F64 [1]
  grads.safetensors     grad.stage<k>.<name> F64: d stage_k / d student tensor <name> (autograd through phi-mamba's
                        code, float64; the teacher side constant), for every tensor the loss reaches with a nonzero
                        gradient (absent = zero: e.g. z_bias and out_proj in stage 1, the MLPs in stage 1)

usage: python3 tools/golden/make_mohawk_golden.py --out testdata/golden/mohawk [--phi-mamba .golden-tmp/phi-mamba]
"""
import argparse
import copy
import datetime
import json
import math
import os
import platform
import sys
import types

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in tools/golden/
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_teachers_golden as tg  # noqa: E402

B, L = 2, 37
CASE = dict(name="phi_mamba", seed=8101,
            teacher=dict(arch="phi", name="mohawk_teacher", seed=8101, vocab=96, hidden=32, inter=128, layers=2,
                         heads=4, kv=4, theta=10000.0, partial=0.5, tie=False, eps=1e-5, maxpos=64),
            # phi-mamba "core_input"; d_state = head_dim, one B/C head per attention head (mamba4j's forTeacher)
            mixer=dict(d_state=8, n_v_heads=4, n_qk_heads=4, d_conv=4, conv_bias=True, expand=1, chunk_size=16,
                       activation="identity", bias=False))


# ----------------------------------------------------------------------------------------------------
# the mamba_ssm stand-in: mamba_chunk_scan_combined through phi-mamba's own ssd_minimal_discrete
def mamba_chunk_scan_combined(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, initial_states=None,
                              seq_idx=None, cu_seqlens=None, dt_softplus=False, dt_limit=(0.0, float("inf")),
                              return_final_states=False, return_varlen_states=False):
    """x (b, l, h, p), dt (b, l, h), A (h,), B, C (b, l, g, n): mamba_ssm's semantics for the arguments
    discrete_mamba2.py passes (D, z, initial states, seq_idx, varlen are not used there and are refused)."""
    from modules.mixers.discrete_mamba2_ref import ssd_minimal_discrete
    assert D is None and z is None and initial_states is None and seq_idx is None and cu_seqlens is None
    assert not return_varlen_states
    dt = dt.to(x.dtype)
    if dt_bias is not None:
        dt = dt + dt_bias.to(x.dtype)
    if dt_softplus:
        dt = F.softplus(dt)
    if tuple(dt_limit) != (0.0, float("inf")):
        dt = dt.clamp(min=dt_limit[0], max=dt_limit[1])
    h, g = x.shape[2], B.shape[2]
    assert h % g == 0
    Bh, Ch = B.repeat_interleave(h // g, dim=2), C.repeat_interleave(h // g, dim=2)
    y, final = ssd_minimal_discrete(x * dt.unsqueeze(-1), dt * A.to(x.dtype), Bh.to(x.dtype), Ch.to(x.dtype),
                                    chunk_size)
    return (y, final) if return_final_states else y


def install_phi_mamba(root):
    if not os.path.isfile(os.path.join(root, "modules", "mixers", "discrete_mamba2.py")):
        sys.exit(f"no phi-mamba snapshot at {root}: fetch github.com/goombalab/phi-mamba into it "
                 f"(tools/golden/README.md, 'Outside truth')")
    for name in ["mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton", "mamba_ssm.ops.triton.ssd_combined"]:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["mamba_ssm.ops.triton.ssd_combined"].mamba_chunk_scan_combined = mamba_chunk_scan_combined
    sys.path.insert(0, root)
    import modules.mixers.discrete_mamba2 as dm2
    dm2.causal_conv1d_fn, dm2.causal_conv1d_update = None, None   # the nn.Conv1d path on the CPU
    from modules.backbone import MixerModel
    from utils.config import Config
    commit = None                                       # the snapshot is a `git archive`: its commit is in SNAPSHOT
    stamp = os.path.join(root, "SNAPSHOT")
    if os.path.exists(stamp):
        with open(stamp) as f:
            commit = f.read().strip()
    return MixerModel, Config, commit


# ----------------------------------------------------------------------------------------------------
# independent float64 reference of one Discrete Mamba-2 mixer (MATH.md "Discrete Mamba-2"), sequential in time
def ref_mixer(sd, p, m, u):
    """sd: state dict; p: "layers.<l>.mixer."; m: core_input; u (b, l, d) -> (out, x (b,l,h,p), y incl. D·x)."""
    b, t, d = u.shape
    H, G, N, K = m["n_v_heads"], m["n_qk_heads"], m["d_state"], m["d_conv"]
    E = m["expand"] * d
    P = E // H
    proj = u @ sd[p + "in_proj.weight"].T
    xbc, z, alog = proj[..., :E + 2 * G * N], proj[..., E + 2 * G * N:2 * E + 2 * G * N], proj[..., 2 * E + 2 * G * N:]
    w = sd[p + "conv1d.weight"][:, 0, :]
    pad = torch.cat([torch.zeros(b, K - 1, xbc.shape[-1], dtype=u.dtype), xbc], 1)
    xbc = sum(pad[:, k:k + t, :] * w[:, k] for k in range(K)) + sd[p + "conv1d.bias"]
    x, Bm, Cm = xbc[..., :E].reshape(b, t, H, P), xbc[..., E:E + G * N].reshape(b, t, G, N), xbc[..., E + G * N:].reshape(b, t, G, N)
    a = torch.exp(-F.softplus(alog))                      # (b, t, H)
    grp = torch.arange(H) // (H // G)
    S = torch.zeros(b, H, P, N, dtype=u.dtype)
    ys = []
    for i in range(t):
        S = a[:, i, :, None, None] * S + x[:, i, :, :, None] * Bm[:, i, grp, None, :]
        ys.append((S * Cm[:, i, grp, None, :]).sum(-1))
    y = torch.stack(ys, 1) + sd[p + "D"][:, None] * x     # (b, t, H, P)
    out = (y.reshape(b, t, E) * F.silu(z + sd[p + "z_bias"])) @ sd[p + "out_proj.weight"].T
    return out, x, y


# ----------------------------------------------------------------------------------------------------
@torch.no_grad()
def perturb_mixers(backbone, gen):
    def n(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float32) * std

    for name, prm in backbone.named_parameters():
        if ".mixer." not in name:
            continue
        if name.endswith("mixer.D"):
            prm.add_(n(prm.shape, 0.5))                    # init 1
        elif name.endswith("z_bias"):
            prm.add_(n(prm.shape, 0.5))                    # init 0
        elif name.endswith("conv1d.bias"):
            prm.add_(n(prm.shape, 0.2))
        elif name.endswith("conv1d.weight"):
            prm.add_(n(prm.shape, 0.1))
        elif name.endswith(".weight"):
            prm.add_(n(prm.shape, 0.3 / math.sqrt(prm.shape[1])))
        else:
            raise ValueError(f"unhandled mixer parameter {name}")


def transfer_from_teacher(backbone, lm_head, tsd, layers):
    """MOHAWK weight transfer: embedding, input LayerNorms, MLPs, final LayerNorm and lm_head from the teacher."""
    pairs = [("embedding.weight", "model.embed_tokens.weight"),
             ("final_layernorm.weight", "model.final_layernorm.weight"),
             ("final_layernorm.bias", "model.final_layernorm.bias")]
    for i in range(layers):
        for part in ["input_layernorm.weight", "input_layernorm.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                     "mlp.fc2.weight", "mlp.fc2.bias"]:
            pairs.append((f"layers.{i}.{part}", f"model.layers.{i}.{part}"))
    sd = backbone.state_dict()
    with torch.no_grad():
        for s, t in pairs:
            assert sd[s].shape == tsd[t].shape, (s, sd[s].shape, t, tsd[t].shape)
            sd[s].copy_(tsd[t])
        lm_head.weight.copy_(tsd["lm_head.weight"])
        lm_head.bias.copy_(tsd["lm_head.bias"])
    return [s for s, _ in pairs] + ["lm_head.weight", "lm_head.bias"]


def student_config_json(teacher_cfg, m):
    c = copy.deepcopy(teacher_cfg)
    c["model_type"] = "phi-mamba"
    c["architectures"] = ["PhiMambaForCausalLM"]
    c["ssm_cfg"] = {k: m[k] for k in ["d_state", "n_qk_heads", "n_v_heads", "d_conv", "expand", "activation", "bias",
                                       "conv_bias", "chunk_size"]}
    c["attn_layers"] = []
    c["lm_head_bias"] = True
    c["dtype"] = "float32"
    return c


def build_case(c, outdir, MixerModel, Config):
    from safetensors.torch import save_file
    folder = os.path.join(outdir, c["name"])
    tdir, sdir = os.path.join(folder, "teacher"), os.path.join(folder, "student")
    os.makedirs(tdir, exist_ok=True)
    os.makedirs(sdir, exist_ok=True)
    tc, m = c["teacher"], c["mixer"]
    D, V, NL, H = tc["hidden"], tc["vocab"], tc["layers"], tc["heads"]
    assert tc["inter"] == 4 * D, "phi-mamba's Block builds its MLP with intermediate_size = 4 * d_model"
    assert V % 8 == 0, "phi-mamba pads the vocabulary to a multiple of 8; keep it unpadded"
    assert m["n_v_heads"] == H and m["n_qk_heads"] == H, "phi-mamba's materialize_mixer needs n_qk_heads == n_v_heads"

    # ---- teacher
    torch.manual_seed(tc["seed"])
    teacher = tg.make_model(tc).eval()
    tg.perturb(teacher, torch.Generator().manual_seed(tc["seed"] + 1))
    teacher = teacher.to(torch.float32)
    teacher.save_pretrained(tdir, safe_serialization=True)
    with open(os.path.join(tdir, "config.json")) as f:
        teacher_cfg = json.load(f)
    t64 = tg.load_f64(tdir, tc)
    rotary = tg.fix_rotary_f64(t64, tc["theta"])
    tsd = {k: v.detach().to(torch.float64) for k, v in t64.state_dict().items()}
    ids = torch.randint(0, V, (B, L), generator=torch.Generator().manual_seed(c["seed"] + 2), dtype=torch.int64)
    t_logits, t_hs, t_att = tg.run_hf(t64, ids)
    r_logits, trace, r_probs = tg.phi_forward(tsd, tc, ids)
    t_diff = max((t_logits - r_logits).abs().max().item(), max((a - r).abs().max().item() for a, r in zip(t_att, r_probs)))
    for i in range(NL):                                   # transformers: [embedding, block 0 .. block L-2, final norm]
        t_diff = max(t_diff, (t_hs[i] - trace[i]).abs().max().item())
    assert t_diff < 1e-9, f"teacher: transformers vs independent float64 Phi: {t_diff}"
    resid = [trace[i] for i in range(NL + 1)]             # h_0 .. h_L (h_L = last block's output, before the norm)

    # ---- student: phi-mamba's backbone (+ the Linear lm_head of its lm_head.py), weight transfer, perturbed mixers
    cfg = {"LanguageModel": {"input": {"vocab_size": V, "pad_vocab_size_multiple": 8}},
           "MixerModel": {"input": {"d_model": D, "n_layer": NL, "lm_head_prenorm": "layer"}},
           "Block1": {"n_layers": NL, "BlockType": "modules.phi_block", "block_input": {"resid_dropout": 0.0},
                      "CoreType": "modules.mixers.discrete_mamba2", "core_input": dict(m)}}
    torch.manual_seed(c["seed"] + 3)
    backbone = MixerModel(input_size=V, config=Config.from_dict(copy.deepcopy(cfg))).eval()
    lm_head = torch.nn.Linear(D, V, bias=True)
    transferred = transfer_from_teacher(backbone, lm_head, {k: v.to(torch.float32) for k, v in t64.state_dict().items()}, NL)
    perturb_mixers(backbone, torch.Generator().manual_seed(c["seed"] + 4))
    backbone, lm_head = backbone.to(torch.float32), lm_head.to(torch.float32)
    tensors = {"backbone." + k: v.detach().clone().contiguous() for k, v in backbone.state_dict().items()}
    tensors["lm_head.weight"] = lm_head.weight.detach().clone().contiguous()
    tensors["lm_head.bias"] = lm_head.bias.detach().clone().contiguous()
    save_file(tensors, os.path.join(sdir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(sdir, "config.json"), "w") as f:
        json.dump(student_config_json(teacher_cfg, m), f, indent=1)
    b64, h64 = copy.deepcopy(backbone).double().eval(), copy.deepcopy(lm_head).double().eval()
    ssd = {k: v.detach() for k, v in b64.state_dict().items()}

    exp = {"teacher_logits": t_logits.contiguous()}
    for i in range(NL + 1):
        exp[f"teacher_residual.{i}"] = resid[i].contiguous()
    for i in range(NL):
        exp[f"teacher_attention.{i}"] = t_att[i].to(torch.float64).contiguous()
    info = {"layers": []}
    s1, s2 = [], []
    with torch.no_grad():
        for l in range(NL):
            blk = b64.layers[l]
            u = blk.input_layernorm(resid[l])
            mix = blk(hidden_states=resid[l], run_mlp_component=False, return_mixer_matrix=True)
            out, T = mix["hidden_states"], mix["transfer_matrix"]
            assert out.dtype == torch.float64 and T.dtype == torch.float64
            assert T.shape == (B, H, L, L) and T.shape == t_att[l].shape, T.shape
            # the same through the mixer module directly
            direct = blk.mixer(u, return_mixer_matrix=True)
            assert torch.equal(direct["hidden_states"], out)
            # independent reference: sequential recurrence; and y = T x of phi-mamba's matrix
            r_out, r_x, r_y = ref_mixer(ssd, f"layers.{l}.mixer.", m, u)
            out_diff = ((out - r_out).abs().max() / r_out.abs().max()).item()
            ty = torch.einsum("bhts,bshp->bthp", T, r_x)
            t_rel = ((ty - r_y).abs().max() / r_y.abs().max()).item()
            upper = T.triu(1).abs().max().item()
            assert out_diff < 1e-10, f"layer {l}: phi-mamba mixer vs sequential reference: {out_diff}"
            assert t_rel < 1e-10, f"layer {l}: phi-mamba matrix times x vs the reference's y: {t_rel}"
            assert upper == 0.0, f"layer {l}: the matrix is not causal ({upper})"
            full = blk(hidden_states=resid[l])["hidden_states"]
            loss1 = torch.linalg.matrix_norm(T - t_att[l], ord="fro").mean()
            loss2 = torch.norm(full - resid[l + 1], p=2, dim=(-1,)).mean()
            s1.append(loss1)
            s2.append(loss2)
            exp[f"mixer_input.{l}"] = u.contiguous()
            exp[f"mixer_output.{l}"] = out.contiguous()
            exp[f"matrix.{l}"] = T.contiguous()
            exp[f"block_output.{l}"] = full.contiguous()
            exp[f"stage1.{l}"] = loss1.reshape(1)
            exp[f"stage2.{l}"] = loss2.reshape(1)
            info["layers"].append({"layer": l, "mixer_vs_sequential_ref_rel": out_diff, "matrix_times_x_vs_ref_rel": t_rel,
                                   "mixer_output_abs_max": out.abs().max().item(), "matrix_abs_max": T.abs().max().item(),
                                   "matrix_diag_abs_max": T.diagonal(dim1=-2, dim2=-1).abs().max().item(),
                                   "stage1": loss1.item(), "stage2": loss2.item(),
                                   "teacher_attention_fro_mean": torch.linalg.matrix_norm(t_att[l], ord="fro").mean().item(),
                                   "block_output_minus_input_norm_mean": torch.norm(full - resid[l], dim=-1).mean().item()})
        hs = b64(ids)["last_hidden_state"]
        s_logits = h64(hs)
        kd = F.cross_entropy(s_logits.reshape(-1, V), F.softmax(t_logits.reshape(-1, V), dim=-1))
        # the same written out: mean over tokens of -sum_v p_teacher(v) log p_student(v)
        kd_explicit = -(F.softmax(t_logits, -1) * F.log_softmax(s_logits, -1)).sum(-1).mean()
        assert abs(kd.item() - kd_explicit.item()) < 1e-12, (kd.item(), kd_explicit.item())
    # gradients of each stage's loss (autograd through phi-mamba's code) w.r.t. every student parameter it reaches
    named = [("backbone." + k, q) for k, q in b64.named_parameters()] + [("lm_head." + k, q) for k, q in h64.named_parameters()]
    grads, recomputed = {}, {}

    def collect(stage, loss):
        for _, q in named:
            q.grad = None
        loss.backward()
        recomputed[stage] = loss.item()
        for n, q in named:
            if q.grad is not None and q.grad.abs().max().item() > 0:
                grads[f"grad.stage{stage}.{n}"] = q.grad.detach().clone().contiguous()

    collect(1, sum(torch.linalg.matrix_norm(b64.layers[l](hidden_states=resid[l], run_mlp_component=False,
                                                          return_mixer_matrix=True)["transfer_matrix"] - t_att[l],
                                            ord="fro").mean() for l in range(NL)))
    collect(2, sum(torch.norm(b64.layers[l](hidden_states=resid[l])["hidden_states"] - resid[l + 1], p=2, dim=(-1,)).mean()
                   for l in range(NL)))
    collect(3, F.cross_entropy(h64(b64(ids)["last_hidden_state"]).reshape(-1, V), F.softmax(t_logits.reshape(-1, V), dim=-1)))
    for k, want in [(1, torch.stack(s1).sum().item()), (2, torch.stack(s2).sum().item()), (3, kd.item())]:
        assert abs(recomputed[k] - want) <= 1e-12 * abs(want), (k, recomputed[k], want)
    for k, v in grads.items():
        assert torch.isfinite(v).all(), k
    info["grads"] = {k: {"shape": list(v.shape), "abs_max": v.abs().max().item()} for k, v in grads.items()}
    save_file(grads, os.path.join(folder, "grads.safetensors"))

    exp["student_logits"] = s_logits.contiguous()
    exp["stage1"] = torch.stack(s1).sum().reshape(1)
    exp["stage2"] = torch.stack(s2).sum().reshape(1)
    exp["stage3"] = kd.reshape(1)
    save_file({"input_ids": ids.contiguous()}, os.path.join(folder, "input.safetensors"))
    save_file(exp, os.path.join(folder, "expected.safetensors"))
    print(f"[{c['name']}] teacher vs ref {t_diff:.1e}; stage1 {exp['stage1'].item():.6f} {[x.item() for x in s1]}, "
          f"stage2 {exp['stage2'].item():.6f} {[x.item() for x in s2]}, stage3 {kd.item():.6f}; "
          f"mixer vs ref {max(x['mixer_vs_sequential_ref_rel'] for x in info['layers']):.1e}", flush=True)
    info.update({
        "folder": c["name"], "teacher_case": tc, "mixer": m, "seeds": {
            "teacher_init": tc["seed"], "teacher_perturbation": tc["seed"] + 1, "input_ids": c["seed"] + 2,
            "student_init (phi-mamba's own init under torch.manual_seed)": c["seed"] + 3, "mixer_perturbation": c["seed"] + 4},
        "teacher_vs_independent_ref_max_abs": t_diff, "teacher_rotary_inv_freq": rotary,
        "transferred_from_teacher": transferred, "student_tensors": sorted(tensors),
        "student_config_json": student_config_json(teacher_cfg, m),
        "stage1": exp["stage1"].item(), "stage2": exp["stage2"].item(), "stage3": kd.item(),
        "files": {d: tg.sizes(os.path.join(folder, d)) for d in ["teacher", "student"]}
                 | {"": {f: os.path.getsize(os.path.join(folder, f)) for f in ["input.safetensors", "expected.safetensors",
                                                                         "grads.safetensors"]}},
    })
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="output folder, e.g. testdata/golden/mohawk")
    ap.add_argument("--phi-mamba", default=os.path.join(HERE, "..", "..", ".golden-tmp", "phi-mamba"),
                    help="a snapshot of github.com/goombalab/phi-mamba (default .golden-tmp/phi-mamba)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    root = os.path.abspath(args.phi_mamba)
    MixerModel, Config, commit = install_phi_mamba(root)
    import safetensors
    import transformers
    case = build_case(CASE, args.out, MixerModel, Config)
    manifest = {
        "what": "MOHAWK against goombalab/phi-mamba's reference code: the Discrete Mamba-2 mixer output, its "
                "materialised matrix, the student end to end, and the three stage losses on one fixed batch (float64)",
        "generator": "tools/golden/make_mohawk_golden.py",
        "phi_mamba": {"repository": "https://github.com/goombalab/phi-mamba", "commit": commit,
                      "imported": ["modules/backbone.py", "modules/phi_block.py", "modules/phi_mlp.py",
                                   "modules/mixers/discrete_mamba2.py", "modules/mixers/discrete_mamba2_ref.py",
                                   "utils/config.py"],
                      "stand_in": "mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined -> phi-mamba's "
                                  "ssd_minimal_discrete (see the script's docstring)"},
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "platform": platform.platform(),
        "torch": torch.__version__, "transformers": transformers.__version__, "safetensors": safetensors.__version__,
        "conventions": {
            "stage1": "sum over layers of mean over (batch, head) of ||T_student - A_teacher||_F (Frobenius norm, not "
                      "squared), phi-mamba assets/mohawk_stage1.py",
            "stage2": "sum over layers of mean over (batch, token) of ||Block_student(h_l) - h_{l+1}||_2 (not squared), "
                      "phi-mamba assets/mohawk_stage2.py with freeze_mlp = False",
            "stage3": "mean over tokens of -sum_v softmax(teacher)_v log softmax(student)_v, temperature 1 (not in "
                      "phi-mamba's code; the paper's stage-3 cross-entropy)",
            "h_l": "the teacher's residual stream: h_0 = embedding output, h_{l+1} = output of teacher block l before "
                   "the final norm (transformers' hidden_states replaces the last one by the final norm output)",
        },
        "method": __doc__.split("Files (")[0].strip(),
        "cases": [case],
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
