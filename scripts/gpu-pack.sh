#!/usr/bin/env bash
# Packs what the GPU host needs into .gpu/ (an ignored folder; the host has no JDK, Maven or network, and takes at
# most 64 MiB of tracked files and carried paths together): a Java 25 runtime, the shaded jar without what the GPU
# tests never load, the test classes of cuda and app, testkit, and JUnit's console launcher (about 28 MB). Then, there:
#   bash scripts/gpu-test.sh          (carry .gpu)
# Needs: a JDK 25 (JDK25 or /usr/lib/jvm/temurin-25-jdk-amd64), Maven, xz.
set -euo pipefail
cd "$(dirname "$0")/.."
junit_version=1.14.1
mvn -q -o -DskipTests package -pl app -am 2>&1 | grep -v WARNING || true
mvn -q -o test-compile -pl cuda,app -am 2>&1 | grep -v WARNING || true
rm -rf .gpu && mkdir -p .gpu/tests
cp app/target/mamba4j.jar .gpu/mamba4j.jar
# What the GPU tests do not load (the demo teacher, plotting backends, serve's HTTP server and templates, the
# tokenizers natives: the tests pass ids): the ignored paths that travel are capped at 64 MiB with the tracked tree.
zip -q -d .gpu/mamba4j.jar 'demo/*' 'org/apache/pdfbox/*' 'org/apache/fontbox/*' 'native/*' 'org/eclipse/jetty/*' 'com/hubspot/*' \
    'jinjava/*' 'de/rototor/*' 'org/apache/commons/*' 'com/google/common/*' 'com/google/thirdparty/*' 'org/jline/*' >/dev/null 2>&1 || true
# A Java 25 runtime, xz-compressed (~19 MB, against 29 MB for ../shared/gpu/make-jre.sh's gzip of a zip-compressed image);
# java.desktop because picocli reflects on every command, and the plotting ones name java.awt types
jdk=${JDK25:-/usr/lib/jvm/temurin-25-jdk-amd64}
tmp=$(mktemp -d)
"$jdk/bin/jlink" --add-modules java.base,java.desktop,jdk.incubator.vector,java.logging,java.net.http,jdk.httpserver,java.management,jdk.management,jdk.unsupported,java.naming,java.sql,jdk.crypto.ec \
    --strip-debug --no-header-files --no-man-pages --compress=zip-0 --output "$tmp/jre25" 2>/dev/null
tar cJf .gpu/jre25.txz -C "$tmp" jre25
rm -rf "$tmp"
(cd cuda/target/test-classes && zip -q -r ../../../.gpu/tests/cuda-tests.jar .)
(cd app/target/test-classes && zip -q -r ../../../.gpu/tests/app-tests.jar . -x 'fuzz/*')
cp testkit/target/mamba4j-testkit-*.jar .gpu/tests/
console=$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$junit_version/junit-platform-console-standalone-$junit_version.jar
[ -f "$console" ] || mvn -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_version
cp "$console" .gpu/tests/junit-console.jar
du -sh .gpu
