#!/usr/bin/env bash
# The MOHAWK ablation of docs/RESULTS.md, all runs at once on a many-core host (each JVM limited by
# -Dmamba4j.threads): stages {3}, {2,3}, {1,2,3} at the demo plan's fixed token budget, seeds 1 and 2, and the
# from-scratch student at 1x and 10x those tokens. Usage: bash scripts/mohawk-ablation.sh OUT [JAR]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$1; JAR=${2:-app/target/mamba4j.jar}
JAVA=${JAVA:-java}
run() { local threads=$1 name=$2; shift 2
  "$JAVA" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -XX:+UseParallelGC -Dmamba4j.home="$PWD" -Dmamba4j.threads="$threads" -jar "$JAR" "$@" > "$OUT/$name.txt" 2>&1
  echo "$name: rc $?"; }
mkdir -p "$OUT"
TEACHER="$OUT/teacher"
python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.startswith(\"demo/teacher/\")])" "$JAR" "$OUT/jar" && mv "$OUT/jar/demo/teacher" "$TEACHER"
run 1 prepare train --preset austen-bytes --steps=1 --warmup=0 --eval_every=0 --out "$OUT/prepare" --progress=false --plot=false
for seed in 1 2; do
  for plan in demo stages-2-3 stage3-only demo-hybrid; do
    run 1 "distill-$plan-seed$seed" distill --teacher "$TEACHER" --plan "$plan" --seed "$seed" --data data/austen.txt --out "$OUT/distill-$plan-seed$seed" --no-progress --no-plots &
    sleep 1
  done
  run 1 "scratch1x-seed$seed" demo --scratch-only --seed "$seed" --teacher "$TEACHER" --out "$OUT/scratch1x-seed$seed" --no-progress --no-plots &
  run "${TEN_X_THREADS:-4}" "scratch10x-seed$seed" demo --scratch-only --scratch-multiplier 10 --seed "$seed" --teacher "$TEACHER" --out "$OUT/scratch10x-seed$seed" --no-progress --no-plots &
done
wait
