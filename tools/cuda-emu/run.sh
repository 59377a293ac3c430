#!/usr/bin/env bash
# Runs cuda kernels on the CPU (shim.cuh) against float64 / host references, for a machine without a GPU:
#   bash tools/cuda-emu/run.sh [sample|scan_step|gemv|ssd_chunked|ssd_step|conv|eltwise|rmsnorm ...]     (default: all; needs g++ with C++20)
# Each harness includes the kernel source from cuda/src/main/resources/mamba4j/cuda/kernels unchanged (the whole file,
# or the kernel's section of it) with "common.cuh" replaced by shim.cuh. A check, not a substitute for the GPU run
# (scripts/gpu-test.sh): it cannot see NVRTC's dialect, races between warps, or speed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
k=$here/../../cuda/src/main/resources/mamba4j/cuda/kernels
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here"/shim.cuh "$here"/*_main.cpp "$k"/params.cuh "$k"/tf32.cuh "$work"/
section() {   # file, first line's text, text after the section (empty: to the end)
  python3 - "$1" "$2" "$3" <<'PY'
import sys
s = open(sys.argv[1]).read()
a = s.index(sys.argv[2])
b = s.index(sys.argv[3], a) if sys.argv[3] else len(s)
print('#include "shim.cuh"\n' + s[a:b])
PY
}
sed 's/#include "common.cuh"/#include "shim.cuh"/' "$k/sample.cu" > "$work/sample.cpp"
sed 's/#include "common.cuh"/#include "shim.cuh"/' "$k/ssd_chunked.cu" > "$work/ssd_chunked.cpp"
section "$k/scan.cu" "// One decode step: a group of gs lanes" "" > "$work/scan_step.cpp"
section "$k/ops.cu" "#define GEMV_MAX_M 8" "// Cross-entropy, step 1" > "$work/gemv.cpp"
sed 's/#include "common.cuh"/#include "shim.cuh"/' "$k/ssd.cu" > "$work/ssd_step.cpp"
section "$k/conv1d.cu" "#define CONV_MAXK" "" > "$work/conv.cpp"
sed 's/#include "common.cuh"/#include "shim.cuh"/' "$k/elementwise.cu" > "$work/eltwise.cpp"
sed 's/#include "common.cuh"/#include "shim.cuh"/' "$k/rmsnorm.cu" > "$work/rmsnorm.cpp"
section "$k/ops.cu" "extern \"C\" __global__ void add_row" "// One block per row: the mean" > "$work/movement.cpp"
status=0
for t in "${@:-sample scan_step gemv ssd_chunked ssd_step conv eltwise rmsnorm}"; do
  for name in $t; do
    g++ -std=c++20 -O1 -pthread -o "$work/$name" "$work/${name}_main.cpp"
    echo "== $name"
    if [ "$name" = ssd_chunked ]; then
      # B L H P G N scale D state: the shapes of the self-test; the five kernels' tiles on CUDA cores, then (a second
      # build with MAMBA4J_SSD_TENSOR_TILES, ssd_tile_* on emulated tensor cores) again with the fused kernel
      g++ -std=c++20 -O1 -pthread -DMAMBA4J_SSD_TENSOR_TILES -o "$work/${name}_tc" "$work/${name}_main.cpp"
      g++ -std=c++20 -O1 -pthread -DMAMBA4J_SSD_BF16_TILES -o "$work/${name}_bf16" "$work/${name}_main.cpp"
      for a in "2 300 4 7 2 16 1 1 1" "1 1000 3 64 1 128 0 0 0" "1 192 2 16 1 256 1 1 1" "1 129 24 64 1 128 1 1 1" "1 200 3 100 3 200 1 0 1" "2 300 4 20 2 24 1 1 1" "1 130 2 36 1 8 1 1 1"; do
        (cd "$work" && ./"$name" $a 0.3 nofused && echo " (tiles: tensor cores)" && ./"${name}_tc" $a \
            && echo " (tiles: bf16 tensor cores, MAMBA4J_CUDA_SSD_BF16=1; SelfTest's bf16-ssd-chunked tolerance)" \
            && SSD_TOL="0.5 0.02" ./"${name}_bf16" $a 0.3 nofused) || status=1
      done
      for a in "2 300 4 7 2 16 1 1 1" "1 200 3 100 3 200 1 0 1" "1 129 24 64 1 128 1 1 0"; do   # ssd_state_walk (MAMBA4J_CUDA_SSD_WALK=1)
        (cd "$work" && echo " (chunk states walked)" && SSD_WALK=1 ./"$name" $a 0.3 nofused) || status=1
      done
    else
      (cd "$work" && ./"$name") || status=1
    fi
  done
done
exit $status
