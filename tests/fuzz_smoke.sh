#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build dir and runs each
# for a few seconds from a copy of its checked-in corpus. A crash, a leak or
# a sanitizer report fails the test. Without clang (or its libFuzzer runtime)
# the test fails with the install hint: tools/test installs both.
# usage: fuzz_smoke.sh SOURCE_ROOT BUILD_ROOT [SECONDS]
set -euo pipefail
src=$(cd "$1" && pwd)
out=$(cd "$2" && pwd)/fuzz-build
seconds=${3:-5}
# A fixed seed and run count keep CI reproducible; the time limit caps slow
# machines. Long fuzzing runs are for humans (see fuzz/meson.build).
runs=${4:-200000}
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "clang++ or libFuzzer missing: apt-get install clang libclang-rt-14-dev"
  echo "tests: 0 passed, 1 failed"
  exit 1
fi
if [ ! -f "$out/build.ninja" ]; then
  CXX=clang++ meson setup "$out" "$src" -Dfuzz=true --wrap-mode=nodownload >/dev/null
fi
targets=(frame-decoder config hello membership spores gdb alerting isolation services tls-records)
corpora=(frame config hello membership spores gdb alerting isolation services tls-records)
if ! ninja -C "$out" "${targets[@]/#/fuzz/fuzz-}" >"$out/fuzz-ninja.log" 2>&1; then
  tail -40 "$out/fuzz-ninja.log"
  echo "tests: 0 passed, 1 failed"
  exit 1
fi
passed=0
failed=0
for i in "${!targets[@]}"; do
  work=$(mktemp -d)
  cp "$src/fuzz/corpus/${corpora[$i]}/"* "$work/"
  if (cd "$work" && "$out/fuzz/fuzz-${targets[$i]}" -seed=1 -runs="$runs" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=1024 -print_final_stats=1 "$work" >"$work.log" 2>&1); then
    echo "ok    fuzz-${targets[$i]}: $(grep -m1 -o "stat::number_of_executed_units: *[0-9]*" "$work.log" | grep -o "[0-9]*$") runs"
    passed=$((passed + 1))
  else
    echo "FAIL  fuzz-${targets[$i]}"
    tail -40 "$work.log"
    failed=$((failed + 1))
  fi
  rm -rf "$work" "$work.log"
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
