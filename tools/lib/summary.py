#!/usr/bin/env python3
"""Prints one summary line of passed and failed test cases from meson's log.

Each test program prints its own counts: doctest as
"[doctest] test cases: N | P passed | F failed", our Python suites as
"tests: P passed, F failed[, S skipped]". A program that crashed before
printing counts is counted as one failure. A skipped case (a test that
cannot run on this machine) is counted apart, never as passed.
"""
import json
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
PYTHON = re.compile(r"^tests: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?", re.M)


def main(path):
    passed = failed = skipped = 0
    programs = []
    with open(path) as log:
        for line in log:
            entry = json.loads(line)
            out = entry.get("stdout", "") + entry.get("stderr", "")
            result = entry.get("result")
            ok = result in ("OK", "SKIP")
            m = DOCTEST.findall(out)
            p = PYTHON.findall(out)
            if m:
                passed += int(m[-1][1])
                failed += int(m[-1][2])
            elif p:
                passed += int(p[-1][0])
                failed += int(p[-1][1])
                skipped += int(p[-1][2] or 0)
            elif result == "SKIP":
                skipped += 1
            else:
                passed += 1 if ok else 0
                failed += 0 if ok else 1
            if not ok and not (m and int(m[-1][2])) and not (p and int(p[-1][1])):
                failed += 1 if (m or p) else 0
            programs.append(entry.get("name", "?") +
                            ("" if result == "OK" else " (SKIPPED)" if result == "SKIP"
                             else " (FAILED)"))
    print(f"SUMMARY: {passed} passed, {failed} failed, {skipped} skipped "
          f"({len(programs)} test programs: {', '.join(programs)})")


if __name__ == "__main__":
    main(sys.argv[1])
