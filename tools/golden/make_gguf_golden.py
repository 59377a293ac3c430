#!/usr/bin/env python3
"""Write GGUF golden files made by llama.cpp's own converter (testdata/golden/gguf/<case>/ and manifest.json).

mamba4j writes and reads GGUF by itself (mamba4j.io.GgufFile/GgufWriter, mamba4j.models.gguf.MambaGguf); these files
are the outside truth for that: what llama.cpp's `convert_hf_to_gguf.py` really writes for a Mamba-1 or Mamba-2
checkpoint, with the logits the checkpoint computes (float64), so a Java test can load the converter's file and
compare. Each case is a tiny random MambaForCausalLM / Mamba2ForCausalLM (transformers, seeded, every parameter
perturbed away from its init as the Mamba-1/2 golden scripts do), saved as a user's checkpoint with a 256-token
byte-level BPE tokenizer.json, then converted by the converter imported from a llama.cpp checkout (not committed).

Files per case:
  hf/                   the checkpoint the converter read: config.json, model.safetensors, tokenizer.json,
                        tokenizer_config.json
  model-f32.gguf        convert_hf_to_gguf.py hf/ --outtype f32
  model-f16.gguf        convert_hf_to_gguf.py hf/ --outtype f16
  input.safetensors     input_ids I64 [2, 37]
  expected.safetensors  logits F64 [2, 37, V]: the float64 reference of the script the case comes from
                        (make_mamba1_golden.ref_forward, make_mamba2_golden.ref2_forward); for Mamba-2 with its gated
                        RMSNorm per group (norm_mode="group"), which is what llama.cpp computes (its ssm_norm is
                        [E/G, G]); transformers normalises over all E channels, the same for n_groups = 1
  expected_hf.safetensors  logits F64 of the transformers-semantics reference (norm over all channels), for the record

The one patch: the converter recognises a BPE pre-tokenizer by hashing the ids it gives for a fixed text and refuses
hashes it does not list; the byte-level tokenizer written here is not listed, so the script answers "gpt-2" for it
(TextModel.get_vocab_base_pre), the pre-tokenizer a ByteLevel tokenizer is (GPT-2's regex). The manifest records it.
Nothing else of the converter is changed.

setup (any machine with python 3.10+; the GPU host has torch and transformers already):
  git clone https://github.com/ggml-org/llama.cpp .golden-tmp/llama.cpp     # .golden-tmp/ is ignored by git
  pip install torch transformers safetensors numpy sentencepiece
  pip install -e .golden-tmp/llama.cpp/gguf-py                             # the `gguf` package of that checkout
usage:
  python3 tools/golden/make_gguf_golden.py --llama-cpp .golden-tmp/llama.cpp --out testdata/golden/gguf
"""
import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ in tools/golden/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_mamba1_golden as m1  # noqa: E402
import make_mamba2_golden as m2  # noqa: E402

B, T = 2, 37
VOCAB = 256

CASES = [
    dict(name="mamba1_tied", arch="mamba", seed=5101, hidden=48, layers=2, state=16, conv=4, expand=2, dt_rank=3,
         use_bias=False, use_conv_bias=True, tie=True),
    dict(name="mamba1_untied", arch="mamba", seed=5202, hidden=48, layers=2, state=16, conv=4, expand=2, dt_rank=5,
         use_bias=False, use_conv_bias=True, tie=False),
    dict(name="mamba2_g1_tied", arch="mamba2", seed=5303, hidden=64, layers=2, state=16, conv=4, expand=2, heads=4,
         head_dim=32, groups=1, chunk=256, use_bias=False, tie=True, limit=None),
    dict(name="mamba2_g2_untied", arch="mamba2", seed=5404, hidden=64, layers=2, state=16, conv=4, expand=2, heads=4,
         head_dim=32, groups=2, chunk=256, use_bias=False, tie=False, limit=None),
]


def bytes_to_unicode():
    """GPT-2's byte alphabet (openai/gpt-2 encoder.py), as HF's ByteLevel and llama.cpp use it."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def write_byte_tokenizer(folder):
    """A BPE over the 256 byte tokens with no merges: ids are UTF-8 bytes (mamba4j's byte-level models, as GGUF)."""
    alphabet = bytes_to_unicode()
    level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
        "pre_tokenizer": level, "post_processor": dict(level, trim_offsets=False), "decoder": level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {alphabet[b]: b for b in range(256)}, "merges": []},
    }
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False, "add_eos_token": False}, f)


def make_model(c):
    from transformers import MambaForCausalLM, Mamba2ForCausalLM
    torch.manual_seed(c["seed"])
    if c["arch"] == "mamba":
        model = MambaForCausalLM(m1.make_config(c, VOCAB))
        m1.perturb(model, torch.Generator().manual_seed(c["seed"] + 1))
    else:
        model = Mamba2ForCausalLM(m2.make_config(dict(c, vocab=VOCAB)))
        m2.perturb(model, torch.Generator().manual_seed(c["seed"] + 1))
    return model.float().eval()


def converter(llama_cpp):
    """llama.cpp's convert_hf_to_gguf module, with get_vocab_base_pre answering "gpt-2" for an unlisted hash."""
    sys.path.insert(0, os.path.abspath(llama_cpp))
    sys.path.insert(1, os.path.join(os.path.abspath(llama_cpp), "gguf-py"))
    conv = importlib.import_module("convert_hf_to_gguf")
    try:
        base = importlib.import_module("conversion.base")   # newer checkouts split the models into conversion/
        text_model = base.TextModel
    except ImportError:
        text_model = conv.TextModel
    original = text_model.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            return "gpt-2"   # a ByteLevel pre-tokenizer: GPT-2's regex (the manifest records this patch)

    text_model.get_vocab_base_pre = get_vocab_base_pre
    return conv


def convert(conv, hf_dir, out, outtype):
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", hf_dir, "--outfile", out, "--outtype", outtype]
    try:
        conv.main()
    finally:
        sys.argv = argv


def expected(c, sd, ids, norm_mode):
    if c["arch"] == "mamba":
        logits, _ = m1.ref_forward(sd, dict(c, eps=1e-5), ids)
    else:
        logits, _, _ = m2.ref2_forward(sd, c, ids, norm_mode=norm_mode)
    return logits


def check_gguf(path, c, sd):
    """The facts mamba4j relies on, read back with gguf-py's reader."""
    import gguf
    import numpy as np
    r = gguf.GGUFReader(path)
    names = {t.name: t for t in r.tensors}
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    assert arch == c["arch"], arch
    assert ("output.weight" in names) == (not c["tie"]), sorted(names)
    a = np.asarray(names["blk.0.ssm_a"].data, dtype=np.float64).reshape(-1)
    want = (-torch.exp(sd["backbone.layers.0.mixer.A_log"])).reshape(-1).numpy()
    assert np.allclose(a, want, rtol=1e-6), "ssm_a = -exp(A_log)"
    return {"tensors": {n: {"type": t.tensor_type.name, "ne": [int(x) for x in t.shape]} for n, t in names.items()},
            "keys": sorted(r.fields)}


def build_case(conv, c, outdir):
    from safetensors.torch import save_file
    folder = os.path.join(outdir, c["name"])
    hf = os.path.join(folder, "hf")
    os.makedirs(hf, exist_ok=True)
    model = make_model(c)
    model.save_pretrained(hf, safe_serialization=True)
    write_byte_tokenizer(hf)
    for outtype in ("f32", "f16"):
        convert(conv, hf, os.path.join(folder, f"model-{outtype}.gguf"), outtype)

    ids = torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(c["seed"] + 2))
    save_file({"input_ids": ids.to(torch.int64)}, os.path.join(folder, "input.safetensors"))
    sd = {k: v.detach().to(torch.float64) for k, v in model.state_dict().items()}
    if c["tie"]:
        sd.pop("lm_head.weight", None)
    llama = expected(c, sd, ids, "group")
    save_file({"logits": llama.contiguous()}, os.path.join(folder, "expected.safetensors"))
    hf_logits = expected(c, sd, ids, "all")
    save_file({"logits": hf_logits.contiguous()}, os.path.join(folder, "expected_hf.safetensors"))
    with torch.no_grad():   # the script's reference agrees with transformers (float32 forward)
        t = model(ids).logits.to(torch.float64)
    gap = float((t - hf_logits).abs().max() / hf_logits.abs().max())
    assert gap < 1e-4, f"{c['name']}: transformers vs reference {gap}"
    facts = check_gguf(os.path.join(folder, "model-f32.gguf"), c, sd)
    return dict(c, vocab=VOCAB, transformers_vs_reference_max_rel=gap,
                llama_vs_transformers_semantics_max_abs=float((llama - hf_logits).abs().max()), gguf=facts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llama-cpp", default=".golden-tmp/llama.cpp", help="a llama.cpp checkout (convert_hf_to_gguf.py, gguf-py)")
    ap.add_argument("--out", default="testdata/golden/gguf")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.llama_cpp, "convert_hf_to_gguf.py")):
        sys.exit(f"error: --llama-cpp {a.llama_cpp}: no convert_hf_to_gguf.py (git clone https://github.com/ggml-org/llama.cpp {a.llama_cpp})")
    torch.set_grad_enabled(False)
    conv = converter(a.llama_cpp)
    os.makedirs(a.out, exist_ok=True)
    cases = [build_case(conv, c, a.out) for c in CASES]
    import gguf
    import transformers
    commit = subprocess.run(["git", "-C", a.llama_cpp, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    manifest = {
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "script": "tools/golden/make_gguf_golden.py",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
                     "gguf": getattr(gguf, "__version__", "?"), "llama.cpp": commit},
        "method": "random transformers checkpoints (seeded, perturbed as make_mamba1/2_golden.py), byte-level tokenizer.json "
                  "(256 tokens, no merges), converted by llama.cpp's convert_hf_to_gguf.py --outtype f32 and f16; logits from "
                  "the float64 references of make_mamba1_golden.py / make_mamba2_golden.py, Mamba-2 with the per-group gated "
                  "norm llama.cpp computes",
        "converter_patch": "TextModel.get_vocab_base_pre answers \"gpt-2\" when the converter does not list the tokenizer's hash "
                           "(the byte-level tokenizer written here is not listed); nothing else is changed",
        "cases": cases,
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {len(cases)} cases to {a.out}")


if __name__ == "__main__":
    main()
