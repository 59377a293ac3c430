#!/usr/bin/env bash
# Trains the demo's Phi teacher (preset phi-austen-bytes, context 4096 so decode can be measured at 4k) on the
# GPU host's 16 CPU cores with mamba4j's own trainer (CPU backend). A 20-step probe measures tok/s first and the
# step count is chosen to fill about BUDGET seconds. Usage on the host: bash scripts/train-demo-teacher.sh OUT [BUDGET]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1; BUDGET=${2:-420}
JAR=${MAMBA4J_JAR:-app/target/mamba4j.jar}
[ -x /tmp/jre25/bin/java ] || tar xzf .jre/jre25.tgz -C /tmp
J=(/tmp/jre25/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -jar "$JAR")
"${J[@]}" train --preset phi-austen-bytes --out /tmp/probe --model.context=4096 --steps=20 --warmup=2 --eval_every=0 \
  --progress=false --plot=false > /tmp/probe.txt
TPS=$(sed -n 's/.*s (\([0-9]*\) tok\/s).*/\1/p' /tmp/probe.txt)
STEPS=$(( BUDGET * TPS / (16 * 256) / 100 * 100 ))
echo "probe: $TPS tok/s -> $STEPS steps"
"${J[@]}" train --preset phi-austen-bytes --out "$OUT" --model.context=4096 --steps=$STEPS --warmup=200 \
  --eval_every=500 --checkpoint_every=500 --progress=false --plot=false
