#!/usr/bin/env bash
# mamba4j's GGUF files checked by llama.cpp itself, and llama.cpp's files by mamba4j (issue 16 part 5).
#
#   LLAMA_CPP=/path/to/llama.cpp/build scripts/llama-gguf-check.sh --tokenizer TOKENIZER.json [--fixtures DIR]
#
# 1. mamba4j writes a random-init mamba2-130m (F32, the tokenizer's vocabulary) as GGUF; llama.cpp's llama-completion
#    and `mamba4j generate` continue the same prompt greedily: the texts must be the same.
# 2. llama.cpp's llama-quantize turns that file into Q8_0, Q4_0 (with its Q6_K tied embedding), Q4_K_M, Q5_K_M and
#    Q6_K, and each back to F32 (--allow-requantize: ggml's own dequantizer). mamba4j's perplexity of a quantized file
#    must equal that of its F32 copy to the last digit (mamba4j reads the blocks as llama.cpp does), and mamba4j's own
#    `convert --dtype q8_0` must give llama-quantize's perplexity (the same blocks).
# 3. With --fixtures DIR: the k-quant test fixtures of GgufKQuantTest (tools/gguf/kquant_fixtures.py) into DIR
#    (io/src/test/resources/gguf-kquants).
# Prints a table last; exit status 0 when every check passed, 1 when one failed, 2 on bad input.
# Environment: LLAMA_CPP (a llama.cpp build folder or its bin/, with llama-quantize and llama-completion), MAMBA4J
# (the mamba4j launcher, default ./mamba4j of this checkout), WORK (default runs/gguf-check).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
die() { echo "error: $*" >&2; exit 2; }
TOKENIZER="" FIXTURES=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --tokenizer) [ $# -ge 2 ] || die "--tokenizer needs a tokenizer.json"; TOKENIZER="$2"; shift 2 ;;
    --fixtures) [ $# -ge 2 ] || die "--fixtures needs a folder"; FIXTURES="$2"; shift 2 ;;
    *) die "unknown argument $1 ('$0 --help' lists the options)" ;;
  esac
done
[ -n "${LLAMA_CPP:-}" ] || die "LLAMA_CPP is not set (a llama.cpp build folder with llama-quantize and llama-completion)"
[ -n "$TOKENIZER" ] || die "--tokenizer is required (a byte-level BPE tokenizer.json of at most 50288 tokens, e.g. GPT-NeoX-20B's)"
[ -f "$TOKENIZER" ] || die "--tokenizer $TOKENIZER: no such file"
tool() {
  for c in "$LLAMA_CPP/bin/$1" "$LLAMA_CPP/$1"; do [ -x "$c" ] && { echo "$c"; return; }; done
  die "LLAMA_CPP=$LLAMA_CPP: no $1 in it (looked for bin/$1 and $1)"
}
QUANTIZE="$(tool llama-quantize)" || exit 2
COMPLETION="$(tool llama-completion)" || exit 2
MAMBA4J="${MAMBA4J:-$ROOT/mamba4j}"
WORK="${WORK:-$ROOT/runs/gguf-check}"
mkdir -p "$WORK"
ROWS=() FAILED=0
row() { ROWS+=("| $1 | $2 |"); case "$2" in pass*) ;; *) FAILED=1 ;; esac; }

f32="$WORK/mamba2-130m-f32.gguf"
[ -f "$f32" ] || "$MAMBA4J" convert --shape mamba2-130m --dtype f32 --tokenizer "$TOKENIZER" --out "$f32" >&2

prompt="The capital of France is"
theirs="$("$COMPLETION" -m "$f32" -p "$prompt" -n 24 --temp 0 -s 0 -t 2 -no-cnv --no-warmup 2>/dev/null | head -1 || true)"
ours="$("$MAMBA4J" generate --model "$f32" --prompt "$prompt" --max-new-tokens 24 --no-stop 2>/dev/null | head -1 || true)"
echo "llama.cpp: $theirs" >&2
echo "mamba4j:   $ours" >&2
[ -n "$ours" ] && [ "$theirs" = "$ours" ] && row "greedy 24 tokens, F32 file mamba4j wrote: llama-completion = mamba4j generate" "pass" \
  || row "greedy 24 tokens, F32 file mamba4j wrote: llama-completion = mamba4j generate" "FAIL (texts above)"

text="$WORK/text.txt"
[ -f "$text" ] || for i in $(seq 40); do echo "The quick brown fox jumps over the lazy dog, and the dog sleeps on in the sun. $i"; done > "$text"
ppl() { "$MAMBA4J" perplexity --no-progress --model "$1" --text "$text" 2>/dev/null | sed -n 's/^perplexity \([0-9.]*\),.*/\1/p' || true; }
for q in Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K; do
  qf="$WORK/mamba2-130m-llama-$q.gguf" back="$WORK/mamba2-130m-llama-$q-back-f32.gguf"
  [ -f "$qf" ] || "$QUANTIZE" "$f32" "$qf" "$q" >/dev/null 2>&1 || die "llama-quantize failed ($QUANTIZE $f32 $qf $q)"
  [ -f "$back" ] || "$QUANTIZE" --allow-requantize "$qf" "$back" F32 >/dev/null 2>&1 || die "llama-quantize back to F32 failed on $qf"
  a="$(ppl "$qf")" b="$(ppl "$back")"
  [ -n "$a" ] && [ "$a" = "$b" ] && row "llama-quantize $q read by mamba4j = llama.cpp's own F32 of it (perplexity)" "pass ($a)" \
    || row "llama-quantize $q read by mamba4j = llama.cpp's own F32 of it (perplexity)" "FAIL ($a vs $b)"
done
ours8="$WORK/mamba2-130m-mamba4j-q8_0.gguf"
[ -f "$ours8" ] || "$MAMBA4J" convert --model "$f32" --dtype q8_0 --out "$ours8" >&2
a="$(ppl "$ours8")" b="$(ppl "$WORK/mamba2-130m-llama-Q8_0.gguf")"
[ -n "$a" ] && [ "$a" = "$b" ] && row "mamba4j convert --dtype q8_0 = llama-quantize Q8_0 (perplexity)" "pass ($a)" \
  || row "mamba4j convert --dtype q8_0 = llama-quantize Q8_0 (perplexity)" "FAIL ($a vs $b)"

if [ -n "$FIXTURES" ]; then
  mkdir -p "$FIXTURES"
  python3 "$ROOT/tools/gguf/kquant_fixtures.py" "$FIXTURES" \
    "$WORK/mamba2-130m-llama-Q4_K_M.gguf:Q4_K" "$WORK/mamba2-130m-llama-Q4_K_M-back-f32.gguf" \
    "$WORK/mamba2-130m-llama-Q5_K_M.gguf:Q5_K" "$WORK/mamba2-130m-llama-Q5_K_M-back-f32.gguf" \
    "$WORK/mamba2-130m-llama-Q6_K.gguf:Q6_K" "$WORK/mamba2-130m-llama-Q6_K-back-f32.gguf" >&2
fi

echo
echo "GGUF both ways, checked by llama.cpp ($QUANTIZE), mamba4j $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| check | result |"
echo "|---|---|"
printf '%s\n' "${ROWS[@]}"
exit $FAILED
