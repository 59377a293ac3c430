#!/usr/bin/env python3
"""Test fixtures for mamba4j's k-quant readers (GgufQuantTest), from llama.cpp's own files.

    python3 tools/gguf/kquant_fixtures.py OUT_DIR QUANT.gguf:TYPE BACK_F32.gguf [...]

For each pair (a GGUF file llama-quantize wrote, and the same file requantized by llama-quantize --allow-requantize to
F32, i.e. ggml's dequantizer's output), the first two super-blocks (512 elements) of the first tensor of TYPE are
written as OUT_DIR/<type>.blocks (their bytes as stored) and OUT_DIR/<type>.f32 (the 512 little-endian floats llama.cpp
dequantized them to). Standard library only; scripts/llama-gguf-check.sh calls it.
"""
import struct
import sys

TYPES = {"Q4_0": (2, 32, 18), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210)}
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read(path):
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)[0]
        pos += struct.calcsize("<" + fmt)
        return v

    def string():
        nonlocal pos
        n = take("Q")
        pos += n
        return data[pos - n:pos].decode("utf-8", "replace")

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(SCALAR[t])

    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    pos = 4
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(take("I"))
    tensors = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        typ, off = take("I"), take("Q")
        tensors.append((name, dims, typ, off))
    align = kv.get("general.alignment", 32)
    return data, (pos + align - 1) // align * align, tensors


def main():
    if len(sys.argv) < 4 or (len(sys.argv) - 2) % 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    for i in range(2, len(sys.argv), 2):
        qpath, tname = sys.argv[i].rsplit(":", 1)
        code, block, size = TYPES[tname]
        qdata, qbase, qt = read(qpath)
        fdata, fbase, ft = read(sys.argv[i + 1])
        name, dims, typ, off = next(t for t in qt if t[2] == code)
        elems = 2 * 256
        blocks = qdata[qbase + off:qbase + off + elems // block * size]
        foff = next(t[3] for t in ft if t[0] == name)
        floats = fdata[fbase + foff:fbase + foff + 4 * elems]
        open(f"{out}/{tname.lower()}.blocks", "wb").write(blocks)
        open(f"{out}/{tname.lower()}.f32", "wb").write(floats)
        print(f"{tname}: {name} {dims}, {len(blocks)} bytes of blocks, {elems} floats")


if __name__ == "__main__":
    main()
