#!/usr/bin/env bash
# Where the GPU time goes, per kernel, on the GPU host (no Nsight needed): runs `mamba4j bench --backend cuda` with
# MAMBA4J_CUDA_PROFILE=1 (each launch bracketed by events and waited for; graphs off) and prints the kernel table.
#   bash scripts/gpu-profile.sh SHAPE [PROMPT_LEN] [BATCH] [DECODE_TOKENS]     (carry .gpu; scripts/gpu-pack.sh)
# e.g. bash scripts/gpu-profile.sh mamba-1.4b 16 1 32      (decode-dominated)
#      bash scripts/gpu-profile.sh mamba2-1.3b 2048 1 1    (prefill-dominated)
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x /tmp/jre25/bin/java ] || tar xJf .gpu/jre25.txz -C /tmp 2>/dev/null || python3 -c 'import tarfile; tarfile.open(".gpu/jre25.txz").extractall("/tmp")'
shape=${1:?usage: gpu-profile.sh SHAPE [PROMPT_LEN] [BATCH] [DECODE_TOKENS]}
MAMBA4J_CUDA_PROFILE=1 /tmp/jre25/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar .gpu/mamba4j.jar bench \
    --backend cuda --shape "$shape" --dtype bf16 --prompt-len "${2:-16}" --batch "${3:-1}" --decode-tokens "${4:-32}" 2>&1 \
    | grep -v "^WARNING" | awk -v max="${ROWS:-28}" '/^cuda profile/{p=1} p&&/^\| all/{print; next} p&&n++>max+2{next} {print}'
