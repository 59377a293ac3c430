#!/usr/bin/env bash
# Packs what the GPU host needs into .gpu/ (an ignored folder; the host has no JDK, Maven or network, and takes at
# most 64 MiB of tracked files and carried paths together): a Java 25 runtime, the shaded jar without what the GPU
# tests never load, the test classes of cuda and app, testkit, and JUnit's console launcher (about 36 MB); and
# .gpu-serve/, the jar with the tokenizers' natives (about 22 MB). Then, there:
#   bash scripts/gpu-test.sh          (carry .gpu)
#   bash scripts/gpu-serve-check.sh   (carry .gpu-serve, right after a .gpu call on the same machine)
# Needs: a JDK 25 (JDK25 or /usr/lib/jvm/temurin-25-jdk-amd64), Maven, xz.
set -euo pipefail
cd "$(dirname "$0")/.."
junit_version=1.14.1
mvn -q -o -DskipTests package -pl app -am 2>&1 | grep -v WARNING || true
mvn -q -o test-compile -pl cuda,app -am 2>&1 | grep -v WARNING || true
rm -rf .gpu && mkdir -p .gpu/tests
# The jar without what no GPU run loads (the demo teacher, plotting, PDF, other platforms' natives), recompressed. Two
# forms: .gpu/ without the tokenizers' natives (the tests pass ids), .gpu-serve/ with the linux-x86_64 ones (serve and
# bench-serve load a tokenizer.json). Both travel within the 64 MiB a call carries with the tracked tree only apart:
# run the serve call right after a .gpu one on the same warm machine, which left the runtime in /tmp/jre25.
slim() {   # slim OUT_JAR [extra zip -d patterns]
  local out=$1; shift
  local t; t=$(mktemp -d)
  cp app/target/mamba4j.jar "$t/m.jar"
  zip -q -d "$t/m.jar" 'demo/*' 'org/apache/pdfbox/*' 'org/apache/fontbox/*' 'de/rototor/*' 'org/knowm/*' 'org/apache/commons/compress/*' \
      'native/lib/win*' 'native/lib/osx*' 'native/lib/linux-aarch64/*' "$@" >/dev/null 2>&1 || true
  for p in $(unzip -Z1 "$t/m.jar" 'com/sun/jna/*/' 2>/dev/null | cut -d/ -f1-3 | sort -u); do
    case $p in com/sun/jna/linux-x86-64|com/sun/jna/internal|com/sun/jna/ptr|com/sun/jna/win32) ;; *) zip -q -d "$t/m.jar" "$p/*" >/dev/null 2>&1 || true ;; esac
  done
  (mkdir "$t/x" && cd "$t/x" && unzip -q ../m.jar && zip -q -9 -X -r "$out" META-INF $(ls | grep -v '^META-INF$'))
  rm -rf "$t"
}
rm -rf .gpu-serve && mkdir -p .gpu-serve
slim "$PWD/.gpu/mamba4j.jar" 'native/*'
slim "$PWD/.gpu-serve/mamba4j.jar"
# A Java 25 runtime, xz-compressed (~16 MB). No java.desktop: the CLI names no java.awt type outside the plotting
# classes, which load only when a plot is drawn.
jdk=${JDK25:-/usr/lib/jvm/temurin-25-jdk-amd64}
tmp=$(mktemp -d)
"$jdk/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,java.net.http,java.management,jdk.management,jdk.unsupported,java.naming,java.sql,jdk.crypto.ec \
    --strip-debug --no-header-files --no-man-pages --compress=zip-0 --output "$tmp/jre25" 2>/dev/null
tar cJf .gpu/jre25.txz -C "$tmp" jre25
rm -rf "$tmp"
(cd cuda/target/test-classes && zip -q -r ../../../.gpu/tests/cuda-tests.jar .)
(cd app/target/test-classes && zip -q -r ../../../.gpu/tests/app-tests.jar . -x 'fuzz/*')
cp testkit/target/mamba4j-testkit-*.jar .gpu/tests/
console=$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$junit_version/junit-platform-console-standalone-$junit_version.jar
[ -f "$console" ] || mvn -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_version
cp "$console" .gpu/tests/junit-console.jar
du -sh .gpu .gpu-serve
