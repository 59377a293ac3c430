#!/usr/bin/env bash
# Issue 11 part 8, "truth from outside": writes the training and MOHAWK golden files on the GPU host (its CPU; no
# GPU is used) and packs them for the trip back.
#
#   bash tools/golden/make_outside_truth.sh OUTDIR
#
# writes OUTDIR/outside-truth.tgz holding testdata/golden/training/..., testdata/golden/mohawk/... and
# testdata/golden/perplexity/expected.json (paths relative
# to the repository root; unpack with `tar xzf outside-truth.tgz -C <repository root>`), and OUTDIR/outside-truth.log.
# Needs python3 with torch, transformers, safetensors, einops and pyyaml, and a snapshot of goombalab/phi-mamba in
# .golden-tmp/phi-mamba (an ignored folder; see tools/golden/README.md "Outside truth").
set -euo pipefail
out=${1:?usage: make_outside_truth.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
    python3 -c 'import torch, transformers, safetensors; print("torch", torch.__version__, "transformers", transformers.__version__)'
    python3 tools/golden/make_training_golden.py --out "$work/testdata/golden/training" 2>&1 | { grep --line-buffered -v 'falling back' || true; }
    python3 tools/golden/make_mohawk_golden.py --out "$work/testdata/golden/mohawk" --phi-mamba .golden-tmp/phi-mamba
    python3 tools/golden/make_perplexity_golden.py --out "$work"
    tar czf "$out/outside-truth.tgz" -C "$work" testdata
    (cd "$work" && find testdata -type f | sort | xargs ls -l)
} 2>&1 | tee "$out/outside-truth.log"
