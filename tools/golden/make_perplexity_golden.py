#!/usr/bin/env python3
"""Write testdata/golden/perplexity/expected.json: sliding-window perplexity of the committed golden checkpoints on
testdata/golden/perplexity/text.txt, computed by transformers in float64 on the CPU.

The text's bytes are the token ids (every byte is < 97, the smallest golden vocabulary), as
`mamba4j perplexity --tokenizer bytes`. The loop is the transformers perplexity guide's ("Perplexity of
fixed-length models"), with exact token counts:

    prev_end = 0
    for begin in range(0, n, stride):
        end = min(begin + context, n); trg_len = end - prev_end
        labels = ids[begin:end] with every label before the last trg_len set to -100
        nll += cross_entropy(logits[:-1], labels[1:], reduction="sum") over labels != -100
        prev_end = end; stop when end == n

Each case records the windows ([begin, end, first scored position]), the summed negative log-likelihood in nats,
the number of scored tokens, the perplexity exp(nll / tokens) and the bits per byte nll / ln 2 / bytes (one byte per
token here). Models are loaded with from_pretrained(dtype=float64) and run with the golden scripts' float64 patches
(no internal float32 casts; rotary inv_freq recomputed in float64), as make_mamba1_golden.py and
make_teachers_golden.py do.

usage (from the repository root, on the GPU host: torch 2.11, transformers 5.17, no network needed):
    python3 tools/golden/make_perplexity_golden.py --out "$OUT"
writes $OUT/testdata/golden/perplexity/expected.json (copy it into the checkout at the same relative path).
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import make_mamba1_golden as m1      # noqa: E402  float64_everywhere for the Mamba models
import make_teachers_golden as tg    # noqa: E402  float64_everywhere (+ softmax, int .float()), fix_rotary_f64

CASES = ["mamba1/tied", "mamba1/untied_bias_sharded", "mamba2/g2_untied", "mamba2/timelimit",
         "phi/partial_rotary", "llama/gqa_untied", "gpt2/tied"]
WINDOWS = [dict(context=48, stride=20), dict(context=32, stride=32)]   # overlapping; llama.cpp-style disjoint chunks


def load(folder):
    import transformers as tf
    cfg = json.load(open(os.path.join(folder, "config.json")))
    mt = cfg["model_type"]
    if mt == "mamba":
        return tf.MambaForCausalLM.from_pretrained(folder, dtype=torch.float64).eval(), m1.float64_everywhere
    if mt == "mamba2":
        return tf.Mamba2ForCausalLM.from_pretrained(folder, dtype=torch.float64).eval(), m1.float64_everywhere
    cls = {"phi": tf.PhiForCausalLM, "llama": tf.LlamaForCausalLM, "gpt2": tf.GPT2LMHeadModel}[mt]
    model = cls.from_pretrained(folder, dtype=torch.float64, attn_implementation="eager").eval()
    if mt in ("phi", "llama"):
        # transformers 5 writes the base under rope_parameters (gqa_untied's is 500, not the default)
        theta = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)
        tg.fix_rotary_f64(model, theta)
    return model, tg.float64_everywhere


@torch.no_grad()
def sliding(model, f64, ids, context, stride):
    n = ids.numel()
    nll, count, windows, prev_end = 0.0, 0, [], 0
    for begin in range(0, n, stride):
        end = min(begin + context, n)
        trg_len = end - prev_end
        inp = ids[begin:end].unsqueeze(0)
        labels = inp.clone()
        labels[:, :-trg_len] = -100
        with f64():
            logits = model(input_ids=inp, use_cache=False).logits
        assert logits.dtype == torch.float64, logits.dtype
        shift_logits, shift_labels = logits[0, :-1], labels[0, 1:]
        mask = shift_labels != -100
        if mask.any():
            nll += F.cross_entropy(shift_logits[mask], shift_labels[mask], reduction="sum").item()
            count += int(mask.sum())
            first = begin + 1 + int(mask.nonzero()[0])
            windows.append([begin, end, first])
        prev_end = end
        if end == n:
            break
    return dict(context=context, stride=stride, windows=windows, nll=nll, tokens=count,
                perplexity=math.exp(nll / count), bits_per_byte=nll / math.log(2) / count)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="output root; the file goes to OUT/testdata/golden/perplexity/")
    args = ap.parse_args()
    import transformers
    text = open(os.path.join(ROOT, "testdata/golden/perplexity/text.txt"), "rb").read()
    ids = torch.tensor(list(text), dtype=torch.long)
    result = dict(
        manifest=dict(script="tools/golden/make_perplexity_golden.py", torch=torch.__version__,
                      transformers=transformers.__version__, python=platform.python_version(),
                      date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                      text="testdata/golden/perplexity/text.txt", text_bytes=len(text), tokenizer="bytes (id = byte)",
                      dtype="float64 (weights as stored, widened)"),
        cases=[])
    for case in CASES:
        folder = os.path.join(ROOT, "testdata/golden", case)
        model, f64 = load(folder)
        assert max(text) < model.config.vocab_size, (case, model.config.vocab_size)
        for w in WINDOWS:
            r = sliding(model, f64, ids, w["context"], w["stride"])
            r["model"] = "testdata/golden/" + case
            print(f"{case:28s} context {w['context']:3d} stride {w['stride']:3d}: ppl {r['perplexity']:.6f} "
                  f"bpb {r['bits_per_byte']:.6f} ({r['tokens']} tokens, {len(r['windows'])} windows)")
            result["cases"].append(r)
    out = os.path.join(args.out, "testdata/golden/perplexity")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", os.path.join(out, "expected.json"))


if __name__ == "__main__":
    main()
