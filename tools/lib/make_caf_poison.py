#!/usr/bin/env python3
"""Writes a folder of stand-in CAF headers that each fail with #error.

runtime/ targets put this folder first on their include path, so any
`#include <caf/...>` under runtime/ fails to compile with a message that
names the rule (runtime/ is CAF-free), even though the real CAF headers sit
in /usr/include where every target could otherwise reach them.

Usage: make_caf_poison.py OUTDIR [INCLUDE_ROOT...]
"""
import os
import sys

MESSAGE = ('#error "runtime/ must stay CAF-free (pure cores, thin actors): '
           'move CAF code to actors/"\n')


def main():
    out = sys.argv[1]
    roots = sys.argv[2:] or ["/usr/include", "/usr/local/include"]
    count = 0
    for root in roots:
        caf = os.path.join(root, "caf")
        for dirpath, _, files in os.walk(caf):
            rel = os.path.relpath(dirpath, root)
            target = os.path.join(out, rel)
            os.makedirs(target, exist_ok=True)
            for name in files:
                path = os.path.join(target, name)
                if not os.path.exists(path):
                    with open(path, "w") as f:
                        f.write(MESSAGE)
                    count += 1
    print(f"{count} CAF header stand-ins in {out}")


if __name__ == "__main__":
    main()
