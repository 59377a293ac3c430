#!/usr/bin/env bash
# GPU benchmarks on the GPU host (issue "CUDA backend", part 8): `mamba4j bench --backend cuda` for the published
# shapes (random init, bf16 weights): prefill tok/s at --prompt-len, decode tok/s at batch 1, 8, 64 (256 with --big)
# against the bound from the measured device copy bandwidth. Prints each run's lines, then one table.
#   bash scripts/gpu-bench.sh [SHAPE ...]      (default: mamba-130m mamba2-130m); carry .gpu (scripts/gpu-pack.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x /tmp/jre25/bin/java ] || tar xJf .gpu/jre25.txz -C /tmp 2>/dev/null || python3 -c 'import tarfile; tarfile.open(".gpu/jre25.txz").extractall("/tmp")'
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(mamba-130m mamba2-130m)
prompt=${PROMPT_LEN:-2048}
batches=${BATCHES:-1,8,64}
table=""
for s in "${shapes[@]}"; do
  log=$(/tmp/jre25/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar .gpu/mamba4j.jar bench \
      --backend cuda --shape "$s" --dtype bf16 --prompt-len "$prompt" --decode-tokens 128 --batch "$batches" 2>&1)
  echo "$log" | grep -v "^WARNING"
  table+=$(echo "$log" | grep -E "^\| $s" || true)$'\n'
  table+="| $s prefill $prompt | $(echo "$log" | grep -oE "prefill .*tok/s" | head -1) |"$'\n'
done
echo
echo "| model | batch | decode tok/s | bound tok/s | % of bound |"
echo "|---|---|---|---|---|"
printf "%s" "$table"
