#!/usr/bin/env bash
# The GPU tests on the GPU host (../shared/gpu/README.md), one command, a table last:
#   1. SelfTest: every CudaOps kernel against the Java reference, the parameter-struct layouts against NVRTC's
#      sizeof/offsetof, a CUDA-graph replay, then scan/GEMM timings at the ANCHORS.md shapes;
#   2. the conformance suite on the cuda backend (mamba4j.cuda.CudaConformanceTest, every op against the reference);
#   3. every golden checkpoint on cuda (mamba4j.app.CudaGoldenTest: logits against the float64 PyTorch files, greedy
#      ids, decode == forward).
# Exit status: 0 all passed, 1 a check failed, 2 no GPU / driver / libraries / jars.
#
# Here:  bash scripts/gpu-pack.sh            (writes .gpu/)
# There: bash scripts/gpu-test.sh            everything            (carry .gpu)
#        bash scripts/gpu-test.sh --quick    SelfTest checks only, no timings, no JUnit suites
#        bash scripts/gpu-test.sh --memcheck SelfTest checks under compute-sanitizer memcheck
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /tmp/jre25/bin/java ]; then
  if [ ! -f .gpu/jre25.txz ]; then echo "gpu-test: .gpu/jre25.txz missing (bash scripts/gpu-pack.sh here, then carry .gpu)" >&2; exit 2; fi
  tar xJf .gpu/jre25.txz -C /tmp 2>/dev/null || python3 -c 'import tarfile; tarfile.open(".gpu/jre25.txz").extractall("/tmp")'
fi
if [ ! -f .gpu/mamba4j.jar ]; then echo "gpu-test: .gpu/mamba4j.jar missing (bash scripts/gpu-pack.sh here, then carry .gpu)" >&2; exit 2; fi
java=(/tmp/jre25/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
selftest=("${java[@]}" -cp .gpu/mamba4j.jar mamba4j.cuda.SelfTest)
if [ "${1:-}" = "--memcheck" ]; then
  shift
  san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)
  if [ -z "$san" ]; then echo "gpu-test: compute-sanitizer not found" >&2; exit 2; fi
  # API errors are not reported: every driver call's status is checked by the bindings (a failure raises, naming the
  # call), and the self-test provokes one out-of-memory failure on purpose (its message check), which memcheck would
  # count as 2 errors. What memcheck is for here: out-of-bounds and misaligned accesses in the kernels.
  exec "$san" --tool memcheck --report-api-errors no --error-exitcode 1 "${selftest[@]}" --quick "$@"
fi
if [ "${1:-}" = "--quick" ]; then exec "${selftest[@]}" --quick; fi

mkdir -p "${OUT:-/tmp/gpu-test}"
out=${OUT:-/tmp/gpu-test}
"${selftest[@]}" > "$out/selftest.log" 2>&1
st=$?
cp=.gpu/mamba4j.jar:$(ls .gpu/tests/*.jar | grep -v junit-console | tr '\n' ':')
"${java[@]}" -Dmamba4j.repo="$PWD" -jar .gpu/tests/junit-console.jar execute --class-path "$cp" \
    --select-class mamba4j.cuda.CudaConformanceTest --select-class mamba4j.app.CudaGoldenTest \
    --details=tree --disable-banner --reports-dir="$out/junit" > "$out/junit.log" 2>&1
jt=$?
grep -E "✘|MethodSource|Exception|expected|relative error" "$out/junit.log" | head -60
tail -25 "$out/selftest.log"
echo
echo "| part | result |"
echo "|---|---|"
echo "| SelfTest (kernels vs Java reference, layouts, graph, timings) | $([ $st = 0 ] && echo pass || echo "FAIL (exit $st)") |"
grep -E "tests (successful|failed|skipped|aborted)" "$out/junit.log" | sed -E 's/^\[? *([0-9]+) tests ([a-z]+).*/| JUnit: conformance + golden on cuda, \2 | \1 |/'
[ $st = 0 ] && [ $jt = 0 ]
