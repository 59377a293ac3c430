#!/usr/bin/env bash
# The CUDA self-test on the GPU host (../shared/gpu/README.md): every core kernel against the Java reference, the
# parameter-struct layouts, a CUDA-graph replay, then scan/GEMM timings at the ANCHORS.md shapes; a table last.
# Exit status: 0 all passed, 1 a check failed, 2 no GPU / driver / libraries.
#
# Here:  mvn -q -DskipTests package && bash ../shared/gpu/make-jre.sh
#        (carry .jre, core/target and cuda/target — or app/target/mamba4j.jar — to the host)
# There: bash scripts/gpu-test.sh            all checks and timings
#        bash scripts/gpu-test.sh --quick    checks only
#        bash scripts/gpu-test.sh --memcheck checks only, under compute-sanitizer memcheck
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /tmp/jre25/bin/java ]; then
  if [ ! -f .jre/jre25.tgz ]; then echo "gpu-test: .jre/jre25.tgz missing (bash ../shared/gpu/make-jre.sh, then carry .jre)" >&2; exit 2; fi
  tar xzf .jre/jre25.tgz -C /tmp
fi
core=$(ls core/target/mamba4j-core-*.jar 2>/dev/null | grep -v -e sources -e tests | head -1 || true)
cuda=$(ls cuda/target/mamba4j-cuda-*.jar 2>/dev/null | grep -v -e sources -e tests | head -1 || true)
if [ -n "$core" ] && [ -n "$cuda" ]; then
  cp="$cuda:$core"
elif [ -f app/target/mamba4j.jar ]; then
  cp=app/target/mamba4j.jar
else
  echo "gpu-test: no jars (run mvn -q -DskipTests package here and carry core/target and cuda/target)" >&2; exit 2
fi
java=(/tmp/jre25/bin/java --enable-native-access=ALL-UNNAMED -cp "$cp" mamba4j.cuda.SelfTest)
if [ "${1:-}" = "--memcheck" ]; then
  shift
  san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)
  if [ -z "$san" ]; then echo "gpu-test: compute-sanitizer not found" >&2; exit 2; fi
  exec "$san" --tool memcheck --error-exitcode 1 "${java[@]}" --quick "$@"
fi
exec "${java[@]}" "$@"
