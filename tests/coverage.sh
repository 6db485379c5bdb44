#!/usr/bin/env bash
# Line and branch coverage of the C core (csrc/*.c and the parts they
# include from csrc/{freelist,zones,buddy,tlsf}/) from the C suites
# (tests/c/test_core.c in its quick mode, tests/c/test_debug.c, every
# tests/c/edges_*.c) and the Python tests that drive the C core most
# directly, measured with gcc's gcov and summed by gcovr (the "coverage"
# extra).  Prints the table and fails when lines or branches fall below the
# given percentages.
#   tests/coverage.sh MIN_LINES MIN_BRANCHES      (in the project's venv)
# It installs the package built with --coverage into the active virtual
# environment: reinstall it normally afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
min_lines=${1:?minimum line coverage (%)}
min_branches=${2:?minimum branch coverage (%)}
rm -rf build
MEMALLOC_CFLAGS="-O0 --coverage -DMA_COVERAGE" LDFLAGS="--coverage" pip install -q --force-reinstall --no-deps .
python -c "import gcovr" 2>/dev/null || pip install -q "gcovr>=7"  # the coverage extra
out=$(mktemp -d)
edges=$(ls tests/c/edges_*.c 2>/dev/null || true)
for f in csrc/*.c tests/c/test_core.c tests/c/test_debug.c $edges; do
  gcc -std=c11 -O0 -g --coverage -DMA_COVERAGE -D_GNU_SOURCE -Icsrc -c "$f" -o "$out/$(basename "$f" .c).o"
done
core=$(cd "$out" && ls ./*.o | grep -v -e '/test_' -e '/edges_')
(cd "$out" && gcc --coverage $core test_core.o -o test_core -lpthread \
   && gcc --coverage $core test_debug.o -o test_debug -lpthread)
"$out/test_core" 20000 quick | tail -1
"$out/test_debug" | tail -1
for f in $edges; do
  e=$(basename "$f" .c)
  (cd "$out" && gcc --coverage $core "$e.o" -o "$e" -lpthread \
     -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=mmap)
  "$out/$e" > "$out/$e.log" 2>&1 || { cat "$out/$e.log"; echo "$e failed"; exit 1; }
  echo "$e: $(tail -1 "$out/$e.log")"
done
# From a temporary folder: the checkout's source folder must not shadow
# the installed (instrumented) package.
# A fixed hypothesis seed: the same examples, so the same branches, every run.
(cd "$out" && HYPOTHESIS_PROFILE=dev python -m pytest -q -p no:cacheprovider --hypothesis-seed=0 --rootdir "$OLDPWD" \
   "$OLDPWD"/tests/test_api.py "$OLDPWD"/tests/test_buddy_layout.py "$OLDPWD"/tests/test_corruption.py \
   "$OLDPWD"/tests/test_constructors.py "$OLDPWD"/tests/test_registry.py \
   "$OLDPWD"/tests/test_freelist_policies.py "$OLDPWD"/tests/test_replay.py \
   "$OLDPWD"/tests/test_state_machine.py "$OLDPWD"/tests/test_debug_switches.py \
   -k "not c_suite and not compile and not garbage_collection" | tail -1)
python -m gcovr --root . --filter 'csrc/[^/]*\.c$' --filter 'csrc/(freelist|zones|buddy|tlsf)/[^/]*\.h$' \
  --exclude-unreachable-branches --gcov-ignore-parse-errors=suspicious_hits.warn \
  --print-summary --txt-metric branch --txt - --fail-under-line "$min_lines" --fail-under-branch "$min_branches" build "$out"
