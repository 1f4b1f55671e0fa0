#!/usr/bin/env python3
"""Tidy test: runtime/ stays pure.

1. No file under runtime/ reads a clock, draws unseeded randomness, sleeps or
   starts threads: cores take `now` and a seeded PRNG as arguments.
2. No file under runtime/ includes a CAF header, and the build makes such an
   include fail: compiling a probe with the runtime's include path must fail
   with the CAF-free message.
3. Layers inside runtime/: a subsystem core includes only core/, json/, the
   library wrappers (store, crypto, wire, metrics) and its own folder; the
   wrappers only core/ and json/; config/ (the composition root) and sim/
   (the simulators) may include cores. Known exceptions are listed in
   KNOWN_LAYER_EXCEPTIONS with what removes them; a new one fails, and so
   does an exception that is no longer needed (the list only shrinks).
4. Only runtime/mycelium/json/json.hpp includes nlohmann/json: everything
   else includes that wrapper.

Usage: check_runtime.py SOURCE_ROOT POISON_DIR COMPILER...
"""
import os
import re
import subprocess
import sys
import tempfile

FORBIDDEN = [
    (re.compile(r"\b(system_clock|steady_clock|high_resolution_clock)::now\b"), "reads a clock"),
    (re.compile(r"\bclock_gettime\s*\(|\bgettimeofday\s*\(|(?<![\w.>])time\s*\(\s*(nullptr|NULL|0)?\s*\)"), "reads a clock"),
    (re.compile(r"\bstd::random_device\b|\brandom_device\b"), "draws unseeded randomness"),
    (re.compile(r"(?<![\w.>:])s?rand\s*\("), "calls rand("),
    (re.compile(r"\bsleep_for\b|\bsleep_until\b|(?<![\w.])u?sleep\s*\("), "sleeps"),
    (re.compile(r"\bstd::thread\b|\bstd::jthread\b|\bpthread_create\b"), "starts threads"),
    (re.compile(r"#\s*include\s*[<\"]caf/"), "includes CAF"),
]


SHARED = {"core", "json"}
WRAPPERS = {"store", "crypto", "wire", "metrics"}
ROOTS = {"config", "sim"}
# (folder, folder it includes): why it is still allowed, and what ends it.
KNOWN_LAYER_EXCEPTIONS = {}
INCLUDE = re.compile(r'#\s*include\s*"mycelium/([a-z_]+)/')
NLOHMANN = re.compile(r"#\s*include\s*[<\"]nlohmann/")


def layer_arrows(root):
    """Every (folder, included folder) pair inside runtime/mycelium."""
    arrows = {}
    base = os.path.join(root, "runtime", "mycelium")
    for folder in sorted(os.listdir(base)):
        path = os.path.join(base, folder)
        if not os.path.isdir(path):
            continue
        for dirpath, _, files in os.walk(path):
            for name in files:
                if not name.endswith((".hpp", ".cpp")):
                    continue
                file = os.path.join(dirpath, name)
                with open(file, encoding="utf-8") as f:
                    for m in INCLUDE.finditer(strip_comments(f.read())):
                        if m.group(1) != folder:
                            arrows.setdefault((folder, m.group(1)), os.path.relpath(file, root))
    return arrows


def layers(root):
    problems = []
    arrows = layer_arrows(root)
    for (src, dst), file in sorted(arrows.items()):
        if src in ROOTS or dst in SHARED:
            continue
        if src not in WRAPPERS and dst in WRAPPERS:
            continue
        if (src, dst) in KNOWN_LAYER_EXCEPTIONS:
            continue
        problems.append(f"{file}: {src}/ includes {dst}/ (a core includes only core/, json/, "
                        f"the wrappers and its own folder)")
    for (src, dst), why in KNOWN_LAYER_EXCEPTIONS.items():
        if (src, dst) not in arrows:
            problems.append(f"{src}/ no longer includes {dst}/: remove it from "
                            f"KNOWN_LAYER_EXCEPTIONS ({why})")
    return problems


def json_wrapper(root):
    problems = []
    wrapper = os.path.join("runtime", "mycelium", "json", "json.hpp")
    for top in ("runtime", "actors", "tools", "tests", "fuzz"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith((".hpp", ".cpp", ".h", ".cc")):
                    continue
                file = os.path.join(dirpath, name)
                rel = os.path.relpath(file, root)
                if rel == wrapper:
                    continue
                with open(file, encoding="utf-8") as f:
                    for number, line in enumerate(strip_comments(f.read()).splitlines(), 1):
                        if NLOHMANN.search(line):
                            problems.append(f"{rel}:{number}: includes nlohmann directly "
                                            f"(include mycelium/json/json.hpp)")
    return problems


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def scan(root):
    problems = []
    for dirpath, _, files in os.walk(os.path.join(root, "runtime")):
        for name in files:
            if not name.endswith((".hpp", ".cpp", ".h", ".cc")):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                lines = strip_comments(f.read()).splitlines()
            for number, line in enumerate(lines, 1):
                for pattern, why in FORBIDDEN:
                    if pattern.search(line):
                        problems.append(f"{os.path.relpath(path, root)}:{number}: {why}: {line.strip()}")
    return problems


def probe(root, poison, compiler):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.cpp")
        with open(src, "w") as f:
            f.write("#include <caf/actor.hpp>\nint main() { return 0; }\n")
        cmd = compiler + ["-std=c++17", "-fsyntax-only", "-I" + poison,
                          "-I" + os.path.join(root, "runtime"), src]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            return ["a CAF include compiles with runtime/'s include path"]
        if "CAF-free" not in r.stderr:
            return ["a CAF include failed for another reason: " + r.stderr[:300]]
    return []


def self_test():
    """The patterns catch what they must and spare what they must."""
    bad = ["auto t = std::chrono::steady_clock::now();", "std::random_device rd;",
           "int x = rand();", "std::this_thread::sleep_for(1s);", "std::thread t{f};",
           "#include <caf/all.hpp>", "time(nullptr);"]
    good = ["time_point now", "prng rng{seed};", "int operand(1);", "duration sleep_ms = 1;",
            "void on_tick(time_point now);", "mytime(3);", "x.time()"]
    failures = []
    for line in bad:
        if not any(p.search(line) for p, _ in FORBIDDEN):
            failures.append("not caught: " + line)
    for line in good:
        if any(p.search(line) for p, _ in FORBIDDEN):
            failures.append("false alarm: " + line)
    return failures


def main():
    root, poison, compiler = sys.argv[1], sys.argv[2], sys.argv[3:]
    checks = [("patterns", self_test()), ("runtime/ sources", scan(root)),
              ("CAF include probe", probe(root, poison, compiler)),
              ("layers inside runtime/", layers(root)),
              ("one nlohmann/json wrapper", json_wrapper(root))]
    failed = 0
    for name, problems in checks:
        if problems:
            failed += 1
            print(f"FAIL  {name}")
            for p in problems:
                print("      " + p)
        else:
            print(f"ok    {name}")
    print(f"tests: {len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
