#!/usr/bin/env bash
# Build tests/fuzz/fuzz_core.c with clang (libFuzzer, ASan, UBSan) and fuzz
# every allocator of the registry for SECONDS seconds each (default 10),
# JOBS at a time (default 2), each from the committed seeds.  Any finding
# (a crash, a sanitizer report, a broken check) fails, with its log and the
# input that triggered it (kept under $FUZZ_OUT, default a temporary folder).
#   tests/fuzz/run.sh [SECONDS [JOBS]]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
jobs=${2:-2}
out=${FUZZ_OUT:-$(mktemp -d)}
mkdir -p "$out"
clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -Icsrc csrc/*.c tests/fuzz/fuzz_core.c \
  -o "$out/fuzz_core" -lpthread
export out seconds
fuzz_one() {
  local name=$1 dir="$out/corpus-$1"
  mkdir -p "$dir"
  cp tests/fuzz/seeds/* "$dir/"
  if MA_FUZZ_ALLOCATOR="$name" "$out/fuzz_core" -max_total_time="$seconds" \
       -max_len=1024 -timeout=20 -artifact_prefix="$out/$name-" "$dir" >"$out/$name.log" 2>&1; then
    echo "fuzz $name: $(grep -Eo '^Done [0-9]+ runs' "$out/$name.log" | head -1 | cut -d' ' -f2) runs, no finding"
  else
    echo "fuzz $name: FINDING (log $out/$name.log)"
    grep -E 'FINDING|ERROR|SUMMARY|runtime error' "$out/$name.log" | head -20
    ls "$out/$name-"* 2>/dev/null
    return 1
  fi
}
export -f fuzz_one
MA_FUZZ_LIST=1 "$out/fuzz_core" | xargs -P "$jobs" -I{} bash -c 'fuzz_one {}'
