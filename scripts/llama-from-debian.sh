#!/usr/bin/env bash
# A llama.cpp build for the side-by-side scripts on a machine that can reach Debian's archive but not GitHub (the
# project's CI-class machines): Debian sid's binary packages of llama.cpp's tools and ggml, with sid's own C and C++
# runtime, unpacked into DIR (nothing installed system-wide) and run through sid's loader by small wrappers in DIR/bin.
#
#   bash scripts/llama-from-debian.sh DIR        then   LLAMA_CPP=DIR scripts/llama-side-by-side.sh
#                                                       LLAMA_CPP=DIR scripts/llama-gguf-check.sh --tokenizer FILE
#
# ggml looks for its CPU backends (one per instruction-set level; it loads the best the CPU runs) in the folder the
# package was built for, /usr/lib/x86_64-linux-gnu/ggml/backends0: the script links that folder to DIR's copy when it
# may (root), else says what to link. Needs curl, xz, dpkg-deb. The build is a distribution's (every CPU variant, the
# best picked at run time), not a -march=native one: say so beside its numbers.
set -euo pipefail
die() { echo "error: $*" >&2; exit 2; }
[ $# -eq 1 ] || die "usage: $0 DIR (the folder to unpack llama.cpp into)"
DIR="$(mkdir -p "$1" && cd "$1" && pwd)"
for t in curl xz dpkg-deb; do command -v "$t" >/dev/null || die "$t is needed"; done
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$DIR/debs" "$DIR/root" "$DIR/bin"
curl -fsS -m 300 -o "$DIR/debs/Packages.xz" "$MIRROR/dists/sid/main/binary-amd64/Packages.xz" \
  || die "could not read $MIRROR/dists/sid/main/binary-amd64/Packages.xz"
xz -dc "$DIR/debs/Packages.xz" > "$DIR/debs/Packages"
PKGS="llama.cpp-tools libllama0 libggml0 libc6 libstdc++6 libgcc-s1 libgomp1 libssl3t64 zlib1g libzstd1"
for p in $PKGS; do
  f="$(awk -v P="$p" '$0 == "Package: " P {on = 1} /^$/ {on = 0} on && /^Filename:/ {print $2; exit}' "$DIR/debs/Packages")"
  [ -n "$f" ] || die "package $p is not in Debian sid's index"
  deb="$DIR/debs/$(basename "$f")"
  [ -f "$deb" ] || curl -fsS -m 300 -o "$deb" "$MIRROR/$f" || die "could not download $MIRROR/$f"
  dpkg-deb -x "$deb" "$DIR/root"
done
lib="$DIR/root/usr/lib/x86_64-linux-gnu"
[ -x "$lib/ld-linux-x86-64.so.2" ] || die "no loader in the unpacked libc6 ($lib/ld-linux-x86-64.so.2)"
for b in llama-bench llama-quantize llama-completion llama-cli; do
  [ -x "$DIR/root/usr/bin/$b" ] || continue
  printf '#!/bin/sh\nexec "%s/ld-linux-x86-64.so.2" --library-path "%s:%s/llama" "%s/root/usr/bin/%s" "$@"\n' "$lib" "$lib" "$lib" "$DIR" "$b" > "$DIR/bin/$b"
  chmod +x "$DIR/bin/$b"
done
backends=/usr/lib/x86_64-linux-gnu/ggml
if [ -e "$backends" ] && [ "$(readlink -f "$backends")" != "$(readlink -f "$lib/ggml")" ]; then
  echo "note: $backends exists and is not $lib/ggml: ggml will load the CPU backends found there" >&2
elif [ ! -e "$backends" ]; then
  ln -s "$lib/ggml" "$backends" 2>/dev/null \
    || echo "note: link ggml's CPU backends where it looks for them (as root): ln -s $lib/ggml $backends" >&2
fi
"$DIR/bin/llama-bench" --version 2>&1 | grep -E "version|build" | head -2 || true
echo "llama.cpp (Debian sid) in $DIR; use LLAMA_CPP=$DIR"
