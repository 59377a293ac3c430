#!/usr/bin/env bash
# The long version of the serve load test: rounds of 64 concurrent streaming clients against a server on loopback for
# SECONDS (default 60), asserting every response completes, batched greedy output equals single-request output, the
# server stays up and its heap stays bounded. CI runs one round (ServeLoadTest without the property).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-60}"
exec mvn -q -B -pl app -am test -Dtest='ServeLoadTest#sixtyFourStreamsLoseNothingAndEqualSingleRequests' \
  -Dsurefire.failIfNoSpecifiedTests=false -Dmamba4j.serve.loadSeconds="$SECONDS_TO_RUN"
