#!/usr/bin/env bash
# The CLI end to end on the GPU host (issue "CUDA backend", "done when"): for every golden checkpoint,
# `generate --backend cuda --ids` prints the same greedy ids as `--backend cpu`, and `perplexity --backend cuda` gives
# the cpu's figure. Prints a table last; exit 1 when a generate row differs. (`serve`: scripts/gpu-serve-check.sh.)
#   bash scripts/gpu-cli-check.sh            (carry .gpu; scripts/gpu-pack.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x /tmp/jre25/bin/java ] || tar xJf .gpu/jre25.txz -C /tmp 2>/dev/null || python3 -c 'import tarfile; tarfile.open(".gpu/jre25.txz").extractall("/tmp")'
J=(/tmp/jre25/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar .gpu/mamba4j.jar)
rows=""; bad=0
for cfg in $(find testdata/golden -name config.json -not -path '*/training/*' | sort); do
  m=$(dirname "$cfg")
  a=$("${J[@]}" generate --model "$m" --prompt-ids 1,2,3,4,5 --max-new-tokens 24 --no-stop --ids --backend cpu 2>/dev/null | tail -1)
  # stdout holds the ids only (the timing line goes to stderr); on a failure the row names the error
  b=$("${J[@]}" generate --model "$m" --prompt-ids 1,2,3,4,5 --max-new-tokens 24 --no-stop --ids --backend cuda 2>/tmp/cli-check.err | tail -1)
  if [ -z "$b" ]; then cat /tmp/cli-check.err >&2; b=$(grep -E "^(error|internal error)" /tmp/cli-check.err | head -1); fi
  if [ -n "$a" ] && [ "$a" = "$b" ]; then r=same; else r="DIFFER (cpu: $a; cuda: $b)"; bad=1; fi
  rows+="| generate $m | $r |"$'\n'
done
m=testdata/golden/mamba1/tied
pc=$("${J[@]}" perplexity --model "$m" --text testdata/golden/perplexity/text.txt --tokenizer bytes --context 48 --stride 20 --backend cpu 2>&1 | tr "\r" "\n" | grep -oE "^perplexity [0-9.]+, bits per byte [0-9.]+" | head -1)
pg=$("${J[@]}" perplexity --model "$m" --text testdata/golden/perplexity/text.txt --tokenizer bytes --context 48 --stride 20 --backend cuda 2>&1 | tr "\r" "\n" | grep -oE "^perplexity [0-9.]+, bits per byte [0-9.]+" | head -1)
rows+="| perplexity $m, cpu / cuda | $pc / $pg |"$'\n'
echo
echo "| check | result |"
echo "|---|---|"
printf "%s" "$rows"
exit $bad
