#!/usr/bin/env bash
# `serve --backend cuda` on the GPU host (issue "serve", on cuda): for every golden checkpoint, read as byte-level (a
# copy whose config.json carries the byte-level marker: their vocabularies are under 256), four concurrent greedy
# completions from a cuda server give the texts a cpu server gives; then `bench-serve --backend cuda` for the
# published Mamba-1 shapes (random bf16 weights, the GPT-NeoX tokenizer). Prints a table last; exit 1 when a text differs.
#   bash scripts/gpu-serve-check.sh     (carry .gpu-serve; scripts/gpu-pack.sh; the runtime from a .gpu call before it
#                                        on the same machine, in /tmp/jre25, or .gpu/jre25.txz when it travels too)
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /tmp/jre25/bin/java ]; then
  [ -f .gpu/jre25.txz ] || { echo "no Java runtime: /tmp/jre25 is absent (run a .gpu call first on this machine) and .gpu/jre25.txz did not travel" >&2; exit 2; }
  tar xJf .gpu/jre25.txz -C /tmp
fi
JAR=.gpu-serve/mamba4j.jar
[ -f "$JAR" ] || JAR=.gpu/mamba4j.jar
J=(/tmp/jre25/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar "$JAR")
work=$(mktemp -d)
rows=""; bad=0
ask() {   # ask PORT PROMPT_IDS -> the completion's text (JSON-quoted)
  curl -s --max-time 120 "http://127.0.0.1:$1/v1/completions" -H 'Content-Type: application/json' \
      -d "{\"prompt\": [$2], \"max_tokens\": 24, \"temperature\": 0}" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d["choices"][0]["text"]) if "choices" in d else "ERROR " + json.dumps(d))'
}
start() {   # start BACKEND DIR PORT -> waits for /health
  "${J[@]}" serve --model "$2" --backend "$1" --port "$3" --no-warmup --max-sequences 8 --step-batch 4 >"$work/serve-$1-$3.log" 2>&1 &
  for _ in $(seq 1 240); do curl -s "http://127.0.0.1:$3/health" >/dev/null 2>&1 && return 0; sleep 0.5; done
  cat "$work/serve-$1-$3.log" >&2; return 1
}
port=18100
for cfg in $(find testdata/golden -name config.json -not -path '*/training/*' | sort); do
  m=$(dirname "$cfg"); name=$(echo "$m" | sed 's|testdata/golden/||; s|/|-|g')
  cp -r "$m" "$work/$name"
  python3 - "$work/$name/config.json" <<'EOF'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["mamba4j_tokenizer"] = "bytes"; json.dump(c, open(p, "w"))
EOF
  pc=$((port++)); pg=$((port++))
  r="same"
  if start cpu "$work/$name" $pc && start cuda "$work/$name" $pg; then
    prompts=("1,2,3,4,5" "7,8,9" "10,11,12,13,14,15,16,17" "3")
    pids=()
    for i in 0 1 2 3; do ask $pg "${prompts[$i]}" >"$work/cuda.$i" & pids+=($!); done   # at once: they share decode steps
    for i in 0 1 2 3; do ask $pc "${prompts[$i]}" >"$work/cpu.$i" & pids+=($!); done
    wait "${pids[@]}"
    for i in 0 1 2 3; do
      a=$(cat "$work/cpu.$i"); b=$(cat "$work/cuda.$i")
      if [ "$a" != "$b" ] || [[ "$a" == ERROR* ]]; then r="DIFFER at [${prompts[$i]}] (cpu: $a; cuda: $b)"; bad=1; fi
    done
  else
    r="did not start (log above)"; bad=1
  fi
  pkill -f "serve --model $work/$name " 2>/dev/null; sleep 1
  rows+="| serve $m, 4 concurrent greedy completions | $r |"$'\n'
done
for s in mamba-130m mamba-1.4b; do
  log=$("${J[@]}" bench-serve --backend cuda --shape $s --dtype bf16 --clients 1,8,64 --prompt-tokens 32 --max-tokens 64 2>&1)
  echo "$log" | grep -v "^WARNING"
  for c in 1 8 64; do rows+="| bench-serve cuda $s bf16, $c clients: tok/s, TTFT p50, ITL p50 (ms) | $(echo "$log" | grep -E "^\| $c \|" | awk -F'|' '{print $3 "," $4 "," $6}') |"$'\n'; done
done
rm -rf "$work"
echo
echo "| check | result |"
echo "|---|---|"
printf "%s" "$rows"
exit $bad
