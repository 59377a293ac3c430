#!/usr/bin/env bash
# Packs what the GPU host needs into .gpu/ (an ignored folder; the host has no JDK, Maven or network, and takes at
# most 64 MiB of ignored paths, .jre's 29 MB included): the shaded jar without the tokenizer and JNA natives of other
# platforms, the test classes of cuda and app, testkit, and JUnit's console launcher. Then, on the host:
#   bash scripts/gpu-test.sh          (carry .jre and .gpu)
# Needs: a JDK 25 (JAVA_HOME), Maven, ../shared/gpu/make-jre.sh's .jre/jre25.tgz (or run it first).
set -euo pipefail
cd "$(dirname "$0")/.."
junit_version=1.14.1
mvn -q -o -DskipTests package -pl app -am 2>&1 | grep -v WARNING || true
mvn -q -o test-compile -pl cuda,app -am 2>&1 | grep -v WARNING || true
rm -rf .gpu && mkdir -p .gpu/tests
cp app/target/mamba4j.jar .gpu/mamba4j.jar
# natives for linux-x86_64 only (the host's): the others are ~40 MB of the jar
zip -q -d .gpu/mamba4j.jar 'native/lib/linux-aarch64/*' 'native/lib/win-*' 'native/lib/osx-*' \
    'com/sun/jna/aix-*' 'com/sun/jna/darwin-*' 'com/sun/jna/freebsd-*' 'com/sun/jna/openbsd-*' 'com/sun/jna/sunos-*' \
    'com/sun/jna/win32-*' 'com/sun/jna/linux-aarch64/*' 'com/sun/jna/linux-arm*' 'com/sun/jna/linux-loongarch64/*' \
    'com/sun/jna/linux-mips64el/*' 'com/sun/jna/linux-ppc*' 'com/sun/jna/linux-riscv64/*' 'com/sun/jna/linux-s390x/*' \
    'com/sun/jna/linux-x86/*' 'com/sun/jna/dragonflybsd-*' >/dev/null 2>&1 || true
(cd cuda/target/test-classes && zip -q -r ../../../.gpu/tests/cuda-tests.jar .)
(cd app/target/test-classes && zip -q -r ../../../.gpu/tests/app-tests.jar . -x 'fuzz/*')
cp testkit/target/mamba4j-testkit-*.jar .gpu/tests/
console=$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$junit_version/junit-platform-console-standalone-$junit_version.jar
[ -f "$console" ] || mvn -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_version
cp "$console" .gpu/tests/junit-console.jar
du -sh .gpu .jre 2>/dev/null
