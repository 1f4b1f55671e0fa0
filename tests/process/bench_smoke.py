#!/usr/bin/env python3
"""The benchmark runs and prints the documented JSON fields. This checks
behaviour only (fields present, figures positive); speed is judged from the
benchmark's own output, never asserted here.

Usage: bench_smoke.py PATH/TO/mycelium-bench
"""
import json
import subprocess
import sys


def main():
    bench = sys.argv[1]
    passed = failed = 0
    checks = []
    r = subprocess.run([bench, "restart", "--json", "--iterations", "50"],
                       capture_output=True, text=True, timeout=120)
    checks.append(("restart exits 0", r.returncode == 0))
    doc = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}
    for field in ["scenario", "p50_us", "p99_us", "baseline_p50_us", "ratio"]:
        checks.append((f"restart prints {field}", field in doc))
    checks.append(("restart measured 50 restarts", doc.get("restarts") == 50))
    checks.append(("figures are positive", all(doc.get(f, 0) > 0 for f in ["p50_us", "baseline_p50_us", "ratio"])))
    # A few round trips and small transfers: this checks the output, not the
    # speed, and must finish on a loaded 2-core CI machine.
    r = subprocess.run([bench, "transport", "--json", "--iterations", "150"],
                       capture_output=True, text=True, timeout=240)
    checks.append(("transport exits 0", r.returncode == 0))
    lines = [json.loads(l) for l in r.stdout.strip().splitlines()] if r.returncode == 0 else []
    checks.append(("transport prints one object per payload size",
                   [l.get("payload_bytes") for l in lines] == [64, 65536, 1048576]))
    for line in lines:
        for field in ["scenario", "msgs_per_s", "baseline_msgs_per_s", "ratio"]:
            checks.append((f"transport {line.get('payload_bytes')} B prints {field}", field in line))
    if len(lines) == 3:
        checks.append(("transport prints round trips", "rtt_p50_us" in lines[0] and "baseline_rtt_p99_us" in lines[0]))
        checks.append(("transport prints the AEAD limit and bulk ping",
                       lines[2].get("aead_limit_mb_s", 0) > 0 and "ping_p99_during_bulk_us" in lines[2]))
        checks.append(("transport prints the CPU per byte of both processes and the cores ceiling",
                       all(f in lines[2] for f in ["sender_cpu_ns_per_byte",
                                                    "receiver_cpu_ns_per_byte",
                                                    "cores_ceiling_mb_s"])))
        checks.append(("transport prints raw loopback TCP and the cipher-and-kernel bound",
                       lines[2].get("raw_tcp_mb_s", 0) > 0 and
                       lines[2].get("raw_tcp_cpu_ns_per_byte", 0) > 0 and
                       lines[2].get("cipher_and_kernel_bound_mb_s", 0) > 0))
    # Five nodes under CPU saturation for a few seconds: the output and the
    # counters it reads (the 10-minute run is the benchmark's, not ours).
    r = subprocess.run([bench, "membership-load", "--json", "--seconds", "3"],
                       capture_output=True, text=True, timeout=120)
    checks.append(("membership-load exits 0 (no false failures)", r.returncode == 0))
    doc = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
    for field in ["false_failures", "suspicions", "busy_processes", "seconds"]:
        checks.append((f"membership-load prints {field}", field in doc))
    checks.append(("membership-load saturated the cores", doc.get("busy_processes", 0) >= 2))
    # The Global Database CRDT figures, small.
    r = subprocess.run([bench, "gdb", "--json", "--iterations", "5000"],
                       capture_output=True, text=True, timeout=120)
    checks.append(("gdb exits 0", r.returncode == 0))
    lines = [json.loads(l) for l in r.stdout.strip().splitlines()] if r.returncode == 0 else []
    scenarios = {l.get("scenario"): l for l in lines}
    checks.append(("gdb prints merge, reconciliation and write latency",
                   set(scenarios) == {"merge", "reconciliation", "write_latency"}))
    lat = scenarios.get("write_latency", {})
    checks.append(("gdb write latency prints ours and the plain insert",
                   lat.get("p50_us", 0) > 0 and lat.get("baseline_p99_us", 0) > 0))
    rec = scenarios.get("reconciliation", {})
    for field in ["bytes", "baseline_bytes", "ratio", "converge_ms", "rounds"]:
        checks.append((f"gdb reconciliation prints {field}", field in rec))
    checks.append(("gdb merge prints ops_per_s", scenarios.get("merge", {}).get("ops_per_s", 0) > 0))
    # Metrics: scrape through the real endpoint, counter cost next to an atomic.
    r = subprocess.run([bench, "metrics", "--json", "--iterations", "2000"],
                       capture_output=True, text=True, timeout=120)
    checks.append(("metrics exits 0", r.returncode == 0))
    doc = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}
    for field in ["scrape_p50_ms", "scrape_p99_ms", "counter_inc_ns",
                  "baseline_atomic_inc_ns", "ratio"]:
        checks.append((f"metrics prints {field}", doc.get(field, 0) > 0))
    checks.append(("metrics scraped the series asked for", doc.get("series") == 2000))
    r = subprocess.run([bench, "nonsense"], capture_output=True, text=True)
    checks.append(("unknown scenario exits 2", r.returncode == 2))
    for name, ok in checks:
        print(("ok    " if ok else "FAIL  ") + name)
        passed += ok
        failed += not ok
    print(f"tests: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
