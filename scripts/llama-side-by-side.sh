#!/usr/bin/env bash
# mamba4j against llama.cpp on the same GGUF files, side by side (issue 16 part 6).
#
#   LLAMA_CPP=/path/to/llama.cpp/build scripts/llama-side-by-side.sh [options] [FILE.gguf ...]
#
# For each GGUF file (default: the issue's rows and the bf16 and q8_0 ones of its target, random-init checkpoints of
# the published shapes written by `mamba4j convert --shape S --dtype D --format gguf`, as llama.cpp's converter writes
# them) it runs llama.cpp's
# llama-bench and `mamba4j bench` interleaved — llama.cpp, mamba4j, next file, for each round — at batch 1 with the
# same threads, prompt length and decode length, then prints the tok/s of every round and the ratio mamba4j / llama.cpp
# (mean over rounds) as a markdown table. Without LLAMA_CPP it prints the reference table of issue 16 and says so.
#
# Options:
#   --threads N   threads for both engines (default 2, the machine class of the reference table)
#   --prompt N    prompt (prefill) tokens (default 512)
#   --decode N    decode tokens (default 128)
#   --rounds N    interleaved rounds (default 2)
#   --work DIR    where the generated GGUF files are kept and reused (default runs/side-by-side)
#   -h, --help    this text
# Environment: LLAMA_CPP (a llama.cpp build folder, or its bin/; llama-bench is looked for in it), MAMBA4J (the mamba4j
# launcher, default ./mamba4j of this checkout).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

THREADS=2 PROMPT=512 DECODE=128 ROUNDS=2 WORK="$ROOT/runs/side-by-side"
# the issue's rows, then the other weight types of its target (bf16, q8_0) for both architectures
ROWS="mamba-130m:f32 mamba-130m:f16 mamba-130m:bf16 mamba-130m:q8_0 mamba2-130m:f32 mamba2-130m:f16 mamba2-130m:bf16 mamba2-130m:q8_0 mamba-370m:f32"
FILES=()

die() { echo "error: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
positive() {  # NAME VALUE
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 $2: expected a positive integer"
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --threads|--prompt|--decode|--rounds|--work)
      [ $# -ge 2 ] || die "$1 needs a value ('$0 --help' lists the options)"
      case "$1" in
        --threads) positive "$1" "$2"; THREADS="$2" ;;
        --prompt) positive "$1" "$2"; PROMPT="$2" ;;
        --decode) positive "$1" "$2"; DECODE="$2" ;;
        --rounds) positive "$1" "$2"; ROUNDS="$2" ;;
        --work) WORK="$2" ;;
      esac
      shift 2 ;;
    --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
    -*) die "unknown option $1 ('$0 --help' lists the options)" ;;
    *)
      [ -f "$1" ] || die "$1: no such GGUF file"
      FILES+=("$1"); shift ;;
  esac
done

reference() {
  cat <<'EOF'
Reference (issue 16): llama.cpp commit 82bb485 (-O3 -march=native, OpenMP) vs mamba4j, 2 threads, batch 1, prompt 512,
128 decode tokens, interleaved, two rounds each (round 1 / round 2), tok/s; a 2-vCPU AMD EPYC Zen 4 (AVX-512 BF16/VNNI),
GGUF files as llama.cpp's converter writes them for random-init state-spaces checkpoints:

| model, weights | llama.cpp prefill | mamba4j prefill | llama.cpp decode | mamba4j decode |
|---|---|---|---|---|
| mamba-130m f32 | 242 / 246 | 532 / 448 | 59.9 / 60.6 | 56.5 / 54.8 |
| mamba-130m f16 | 327 / 296 | 260 / 237 (bf16: 241 / 157) | 83.2 / 80.4 | 35.6 / 49.1 (bf16: 84.7 / 61.0) |
| mamba2-130m f32 | 467 / 448 | 310 / 312 | 67.7 / 66.3 | 68.9 / 59.5 |
| mamba2-130m f16 | 740 / 727 | 124 / 189 (bf16: 133 / 200) | 100.8 / 97.6 | 30.4 / 48.6 (bf16: 57.2 / 90.5) |
| mamba-370m f32 | 88 / 97 | 156 / 171 | 18.7 / 21.0 | 20.1 / 22.5 |

Target: every row >= 1.2x llama.cpp, decode >= 85% of the measured memory bandwidth (docs/BENCHMARKS.md).
EOF
}

if [ -z "${LLAMA_CPP:-}" ]; then
  echo "LLAMA_CPP is not set, so nothing was run: this is the reference table of issue 16, not a measurement of this machine."
  echo "Run LLAMA_CPP=/path/to/llama.cpp/build $0 to measure both engines here."
  echo
  reference
  exit 0
fi

BENCH=""
for c in "$LLAMA_CPP/bin/llama-bench" "$LLAMA_CPP/llama-bench"; do
  if [ -x "$c" ]; then BENCH="$c"; break; fi
done
[ -n "$BENCH" ] || die "LLAMA_CPP=$LLAMA_CPP: no llama-bench in it (looked for bin/llama-bench and llama-bench; build llama.cpp with its tools)"
MAMBA4J="${MAMBA4J:-$ROOT/mamba4j}"
[ -x "$MAMBA4J" ] || die "MAMBA4J=$MAMBA4J is not an executable mamba4j launcher"

LABELS=()
if [ ${#FILES[@]} -eq 0 ]; then   # the issue's rows
  mkdir -p "$WORK"
  for row in $ROWS; do
    set -- ${row/:/ }
    f="$WORK/$1-$2.gguf"
    if [ ! -f "$f" ]; then
      echo "writing $f (random init, seed 0, as llama.cpp's converter writes it)..." >&2
      "$MAMBA4J" convert --shape "$1" --dtype "$2" --format gguf --out "$f" >&2
    fi
    FILES+=("$f"); LABELS+=("$1 $2")
  done
else
  for f in "${FILES[@]}"; do LABELS+=("$(basename "$f" .gguf)"); done
fi

# llama-bench -o jsonl prints one object per test: n_prompt/n_gen say which, avg_ts is its tok/s
llama_field() {  # JSONL_LINE FIELD
  sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" <<<"$1"
}
run_llama() {  # FILE → "prefill decode"
  local out line pp="" tg=""
  out="$("$BENCH" -m "$1" -p "$PROMPT" -n "$DECODE" -t "$THREADS" -r 1 -o jsonl 2>/dev/null)" \
    || die "llama-bench failed on $1 (run: $BENCH -m $1 -p $PROMPT -n $DECODE -t $THREADS)"
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    if [ "$(llama_field "$line" n_gen)" = "0" ]; then pp="$(llama_field "$line" avg_ts)"
    elif [ "$(llama_field "$line" n_prompt)" = "0" ]; then tg="$(llama_field "$line" avg_ts)"; fi
  done <<<"$out"
  [ -n "$pp" ] && [ -n "$tg" ] || die "could not read prefill and decode tok/s from llama-bench's output for $1"
  echo "$pp $tg"
}
run_mamba4j() {  # FILE → "prefill decode"
  local out pp tg
  out="$("$MAMBA4J" bench --model "$1" --threads "$THREADS" --batch 1 --prompt-len "$PROMPT" --decode-tokens "$DECODE" 2>/dev/null)" \
    || die "mamba4j bench failed on $1 (run: $MAMBA4J bench --model $1 --threads $THREADS --batch 1 --prompt-len $PROMPT --decode-tokens $DECODE)"
  pp="$(sed -n 's/^prefill .*: \([0-9.]*\) tok\/s.*/\1/p' <<<"$out" | head -1)"
  tg="$(sed -n 's/^decode  *batch 1: \([0-9.]*\) tok\/s.*/\1/p' <<<"$out" | head -1)"
  [ -n "$pp" ] && [ -n "$tg" ] || die "could not read prefill and decode tok/s from mamba4j bench's output for $1"
  echo "$pp $tg"
}

declare -A LP LD MP MD   # [file index] → "r1 r2 …"
for ((r = 1; r <= ROUNDS; r++)); do
  for i in "${!FILES[@]}"; do
    echo "round $r/$ROUNDS: ${LABELS[$i]}: llama.cpp..." >&2
    res="$(run_llama "${FILES[$i]}")"   # a failure (die in the subshell) ends the script with its status
    read -r p d <<<"$res"
    LP[$i]="${LP[$i]:-} $p"; LD[$i]="${LD[$i]:-} $d"
    echo "round $r/$ROUNDS: ${LABELS[$i]}: mamba4j..." >&2
    res="$(run_mamba4j "${FILES[$i]}")"
    read -r p d <<<"$res"
    MP[$i]="${MP[$i]:-} $p"; MD[$i]="${MD[$i]:-} $d"
  done
done

rounds() { echo $1 | awk '{ for (i = 1; i <= NF; i++) printf "%s%.1f", (i > 1 ? " / " : ""), $i }'; }
ratio() {  # MAMBA4J_VALUES LLAMA_VALUES → mean / mean
  awk -v m="$1" -v l="$2" 'BEGIN { n = split(m, a, " "); k = split(l, b, " "); s = 0; t = 0
    for (i = 1; i <= n; i++) s += a[i]; for (i = 1; i <= k; i++) t += b[i]
    if (t > 0) printf "%.2fx", (s / n) / (t / k); else printf "n/a" }'
}

echo
echo "mamba4j vs llama.cpp ($BENCH), $THREADS threads, batch 1, prompt $PROMPT, $DECODE decode tokens, $ROUNDS interleaved rounds"
echo "(tok/s per round; ratio = mean mamba4j / mean llama.cpp; target >= 1.20x); $(date -u +%Y-%m-%dT%H:%MZ)," \
  "mamba4j $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo 'CPU ?')"
echo
echo "| model, weights | llama.cpp prefill | mamba4j prefill | prefill ratio | llama.cpp decode | mamba4j decode | decode ratio |"
echo "|---|---|---|---|---|---|---|"
for i in "${!FILES[@]}"; do
  echo "| ${LABELS[$i]} | $(rounds "${LP[$i]}") | $(rounds "${MP[$i]}") | $(ratio "${MP[$i]}" "${LP[$i]}") |" \
    "$(rounds "${LD[$i]}") | $(rounds "${MD[$i]}") | $(ratio "${MD[$i]}" "${LD[$i]}") |"
done
