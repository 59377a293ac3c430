#!/usr/bin/env bash
# Decode and prefill with the current decode kernels (programmatic dependent launch, the scan step with its Δ
# projection, the vector SSD step) against those of before (MAMBA4J_CUDA_PDL=0 MAMBA4J_CUDA_FUSE=0), interleaved on
# one card: ROUNDS rounds of (new, old) per shape. Prints each run's table rows, then all rows again.
#   ROUNDS=2 BATCHES=1,64 bash scripts/gpu-ab.sh mamba-1.4b mamba2-1.3b     (carry .gpu; scripts/gpu-pack.sh)
# With OUT set (the device machine's return folder), the rows are also written to $OUT/gpu-ab-HHMMSS.md.
# AB_NEW / AB_OLD replace the two environments, e.g. the split GEMMs of a prompt's in_proj against the copies:
#   AB_NEW="MAMBA4J_CUDA_SPLIT_GEMM=1" AB_OLD="MAMBA4J_CUDA_SPLIT_GEMM=0" PROMPT_LEN=16384 BATCHES=1 bash scripts/gpu-ab.sh
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x /tmp/jre25/bin/java ] || tar xJf .gpu/jre25.txz -C /tmp 2>/dev/null || python3 -c 'import tarfile; tarfile.open(".gpu/jre25.txz").extractall("/tmp")'
shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(mamba-1.4b mamba2-1.3b)
rows=""
for round in $(seq 1 "${ROUNDS:-2}"); do
  for s in "${shapes[@]}"; do
    for v in new old; do
      if [ $v = new ]; then read -r -a env <<< "${AB_NEW:-MAMBA4J_CUDA_PDL=1 MAMBA4J_CUDA_FUSE=1}"; else read -r -a env <<< "${AB_OLD:-MAMBA4J_CUDA_PDL=0 MAMBA4J_CUDA_FUSE=0}"; fi
      log=$(env "${env[@]}" /tmp/jre25/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar .gpu/mamba4j.jar bench \
          --backend cuda --shape "$s" --dtype bf16 --prompt-len "${PROMPT_LEN:-2048}" --decode-tokens 128 --batch "${BATCHES:-1,64}" 2>&1)
      r=$(echo "$log" | grep -E "^\| $s" | sed "s/^/| round $round $v /")
      p=$(echo "$log" | grep -oE "^prefill .*tok/s" | head -1)
      [ -n "$r" ] || r="| round $round $v $s | failed: $(echo "$log" | grep -E "^(error|internal error|Exception)" | head -1) |"
      echo "$r"; echo "  $v $s $p"
      rows+="$r"$'\n'"| round $round $v $s | $p |"$'\n'
    done
  done
done
echo
printf "%s" "$rows"
# the rows again as a file that comes back from the device machine (a call's printed output may be cut to its tail)
if [ -n "${OUT:-}" ]; then printf "%s" "$rows" > "$OUT/gpu-ab-$(date +%H%M%S).md"; fi
