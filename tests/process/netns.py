#!/usr/bin/env python3
"""Process tests over real cuts: every node in a network namespace of its
own on one bridge (harness.Lab), links cut by kernel routes. What a real
network does to the promises the fault injection cannot break: a restart
while cut off, simultaneous dials, a cut that drops packets silently, and
how soon a cut-off node knows it.

Usage: netns.py PATH/TO/myceliumd [--netns] [test names...]
       netns.py PATH/TO/myceliumd --measure [--runs N] [--cuts S,S,...]
                [--scenarios cuts,heal,peer] [--json]
The second form measures (README performance table) instead of testing,
with Serf (Debian's `serf`, when installed) as the peer system for failure
detection and heal at the same membership timing.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

from harness import Lab, Node, cluster, main, wait_for

# Slower than the local profile so that a loaded CI machine has margin.
MEMBERSHIP = {"probe_interval_ms": 300, "probe_timeout_ms": 150, "suspicion_alpha": 2}


def isolation(node):
    rc, _, _, doc = node.console("--json", "isolation")
    return doc["result"] if rc == 0 else None


def mode(node):
    return (isolation(node) or {}).get("mode")


def members(node):
    rc, _, _, doc = node.console("--json", "members")
    return {m["name"]: m["state"] for m in doc["result"]["members"]} if rc == 0 else {}


def digest(node):
    rc, _, _, doc = node.console("--json", "db", "stats")
    return doc["result"]["digest"] if rc == 0 else None


def security_events(node):
    """Every mycelium_security_events_total series with a count."""
    _, out, _, _ = node.console("metrics", expect=0)
    return {line.split()[0]: float(line.split()[1]) for line in out.splitlines()
            if line.startswith("mycelium_security_events_total{") and float(line.split()[1]) > 0}


def stop(node, sig):
    node.signal(sig)
    node.wait_exit()


def timed(what, predicate, timeout):
    """Seconds until `predicate` holds (polling at 50 ms)."""
    start = time.monotonic()
    wait_for(what, predicate, timeout=timeout)
    return time.monotonic() - start


def test_restart_while_cut_off_takes_no_write(binary, tmp, nodes):
    # A node restarted while still cut off comes back isolated; not one
    # write may be acknowledged before its Global Database knows that,
    # whatever the anti-entropy period (both profiles' values).
    lab = Lab("silent")
    ns = cluster(binary, tmp, nodes, 3, net=lab, membership=MEMBERSHIP,
                 isolation={"grace_ms": 1000, "override_after_ms": 600000})
    n1, rest = ns[0], ns[1:]
    lab.partition([n1], rest)
    wait_for("n1 isolated", lambda: mode(n1) == "isolated", timeout=20)
    attempts = refused = 0
    for interval in (1000, 10000):
        n1.config.setdefault("gdb", {})["anti_entropy_interval_ms"] = interval
        n1.write_config()
        for k in range(6):
            stop(n1, signal.SIGKILL if k % 2 else signal.SIGTERM)
            n1.start()
            # Writes from the first moment the console answers, for 1.5 s.
            answered = None
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                key = f"w-{interval}-{k}-{attempts}"
                rc, _, err, _ = n1.console("db", "put", key, "x", timeout=5)
                attempts += 1
                assert rc != 0, f"restart {k} (interval {interval} ms) acknowledged {key}"
                if rc == 1:
                    assert "read_only" in err or "isolat" in err, err
                    refused += 1
                    answered = answered or time.monotonic()
                if answered and time.monotonic() - answered > 1.5:
                    break
            assert answered, f"n1's console never answered after restart {k}"
            assert mode(n1) == "isolated"
    assert refused >= 12 * 5, (attempts, refused)
    # Nothing of it reached anyone: after the heal no w-* key exists.
    lab.heal()
    wait_for("n1 connected again", lambda: mode(n1) == "connected", timeout=30)
    rc, out, _, _ = rest[0].console("db", "list", "w-", expect=0)
    assert out.strip() == "", out


def test_simultaneous_dials_are_not_attacks(binary, tmp, nodes):
    # Five nodes that all seed each other start at once, several times: the
    # redundant connection of every simultaneous dial is closed as what it
    # is, never refused as bad_signature nor counted as a security event.
    lab = Lab("silent")
    ns = cluster(binary, tmp, nodes, 5, net=lab, membership=MEMBERSHIP,
                 log={"level": "debug", "file": "node.log"})
    for round_ in range(10):
        if round_:
            for n in ns:
                n.signal(signal.SIGTERM)
            for n in ns:
                n.wait_exit()
            for n in ns:
                n.start()
            for n in ns:
                n.wait_running()
            for n in ns:
                wait_for(f"{n.name} to connect to all", lambda: len(n.peers()) == 4, timeout=20)
        for n in ns:
            rejections = n.rejections()
            assert not rejections.get("bad_signature") and not rejections.get("no_binding"), \
                (round_, n.name, rejections)
            assert not security_events(n), (round_, n.name, security_events(n))
    logs = "".join(n.log() for n in ns)
    assert "does not verify" not in logs
    simultaneous = logs.count("simultaneous")
    print(f"      {simultaneous} simultaneous-dial closes in 10 starts of 5 nodes", flush=True)
    assert simultaneous > 0, "no simultaneous dial happened: the test proved nothing"


def test_silent_cut_heals_within_seconds(binary, tmp, nodes):
    # A 15 s cut that drops packets: the old connections are noticed dead
    # and redialled, so traffic, membership and the Global Database are back
    # within seconds of the heal (not TCP's retransmission timer).
    lab = Lab("silent")
    ns = cluster(binary, tmp, nodes, 3, net=lab, membership=MEMBERSHIP,
                 isolation={"grace_ms": 600000})
    n1, rest = ns[0], ns[1:]
    lab.partition([n1], rest)
    cut_at = time.monotonic()
    wait_for("n2 to see n1 failed", lambda: members(rest[0]).get("n1") == "failed", timeout=20)
    n1.console("db", "put", "during", "n1", expect=0)
    rest[0].console("db", "put", "during-rest", "n2", expect=0)
    wait_for("15 s of cut", lambda: time.monotonic() - cut_at >= 15, timeout=30, interval=0.2)
    lab.heal()
    heal = time.monotonic()
    wait_for("n1 connected to both", lambda: len(n1.peers()) == 2, timeout=20)
    connected = time.monotonic() - heal
    wait_for("everyone alive everywhere", lambda: all(
        set(members(n).values()) == {"alive"} and len(members(n)) == 2 for n in ns), timeout=20)
    alive = time.monotonic() - heal
    wait_for("equal Global Database digests", lambda: len({digest(n) for n in ns}) == 1, timeout=20)
    converged = time.monotonic() - heal
    print(f"      after the heal: connected {connected:.1f} s, all alive {alive:.1f} s, "
          f"converged {converged:.1f} s", flush=True)
    assert connected < 8 and converged < 12, (connected, alive, converged)
    assert "silent_peer" in n1.log(), n1.log()


def test_cut_off_node_turns_read_only_soon_and_a_blip_does_not(binary, tmp, nodes):
    # The local profile's timing: grace 3 s, suspicion timeout 0.6-2.4 s.
    # A cut-off node turns read-only within the grace plus one suspicion
    # timeout (its own membership alone needed 6-10 s to see its peers
    # fail); a blip shorter than the grace does not flip it.
    lab = Lab("silent")
    ns = cluster(binary, tmp, nodes, 3, net=lab)
    n1, rest = ns[0], ns[1:]
    grace = isolation(n1)["settings"]["grace_ms"] / 1000
    lab.partition([n1], rest)
    blip = time.monotonic()
    wait_for("n1 to hear nobody", lambda: (isolation(n1) or {}).get("alone_since_ms"), timeout=10)
    wait_for("a 1 s blip", lambda: time.monotonic() - blip >= 1.0, timeout=5, interval=0.05)
    lab.heal()
    wait_for("n1 no longer alone", lambda: (isolation(n1) or {}).get("alone_since_ms") == 0,
             timeout=10)
    wait_for("the grace period past the blip", lambda: time.monotonic() - blip >= grace + 1,
             timeout=10, interval=0.1)
    assert mode(n1) == "connected" and "isolation: isolated" not in n1.log(), n1.log()
    for how in ("silent", "refused"):
        lab.partition([n1], rest, how)
        took = timed(f"n1 isolated over a {how} cut", lambda: mode(n1) == "isolated", timeout=30)
        print(f"      {how} cut: read-only after {took:.1f} s (grace {grace:.0f} s)", flush=True)
        # Grace + the longest suspicion timeout (2.4 s), + 1 s of polling
        # and scheduling on a loaded machine.
        assert took <= grace + 2.4 + 1.0, (how, took)
        lab.heal()
        wait_for("n1 connected again", lambda: mode(n1) == "connected", timeout=30)


# -- measurements (README performance table) ----------------------------------

# memberlist's LAN timing (Serf's `-profile=lan`): probe every 1 s, 500 ms
# ack timeout, suspicion 4 * max(1, log10 N) probe periods, up to 6 times
# that. Our membership computes its suspicion the same way.
MEMBERLIST_LAN = {"probe_interval_ms": 1000, "probe_timeout_ms": 500, "indirect_checks": 3,
                  "suspicion_alpha": 4, "suspicion_beta": 6, "gossip_interval_ms": 200,
                  "gossip_nodes": 3}


class SerfAgent:
    """A Serf agent (Debian's `serf`) in a namespace of its own: the peer
    system of the failure detection and heal figures. Its RPC listens on
    the namespace's own loopback."""

    def __init__(self, root, name):
        self.root, self.name, self.proc, self.netns = root, name, None, None
        os.makedirs(root, exist_ok=True)

    def start(self, join=None):
        argv = ["ip", "netns", "exec", self.netns, "serf", "agent", f"-node={self.name}",
                f"-bind={self.ip}:7946", "-rpc-addr=127.0.0.1:7373", "-profile=lan"]
        if join:
            argv.append(f"-join={join}")
        with open(os.path.join(self.root, "serf.log"), "w") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def members(self):
        r = subprocess.run(["ip", "netns", "exec", self.netns, "serf", "members",
                            "-rpc-addr=127.0.0.1:7373", "-format=json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None  # not up (yet)
        return {m["name"]: m["status"] for m in json.loads(r.stdout)["members"]
                if m["name"] != self.name}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def detection_and_heal(start_cluster, members, cut_s):
    """n1 cut off silently from the other two: seconds until n2 sees n1
    failed, then after `cut_s` of cut, seconds from the heal until every
    node sees both others alive. `start_cluster(lab, procs)` starts the
    three and puts them in `procs` (stopped at the end, also on failure)."""
    lab = Lab("silent")
    procs = []
    try:
        start_cluster(lab, procs)
        wait_for("all alive", lambda: all(set(members(p).values()) == {"alive"}
                                          and len(members(p)) == 2 for p in procs), timeout=60)
        lab.partition([procs[0]], procs[1:])
        start = time.monotonic()
        wait_for("n2 sees n1 failed", lambda: members(procs[1]).get("n1") == "failed",
                 timeout=120, interval=0.02)
        detected = time.monotonic() - start
        wait_for("the cut", lambda: time.monotonic() - start >= cut_s, timeout=cut_s + 60,
                 interval=0.2)
        lab.heal()
        heal = time.monotonic()
        wait_for("all alive again", lambda: all(set(members(p).values()) == {"alive"}
                                                for p in procs), timeout=180, interval=0.05)
        return detected, time.monotonic() - heal
    finally:
        for p in procs:
            p.stop()
        lab.close()

def measure(binary, runs, cuts, scenarios=("cuts", "heal", "peer")):
    """Medians over `runs` of, with the local profile's timing and three
    nodes, n1 cut off from both others: failure detection (n2 sees n1
    failed), time to read-only of n1, time until n1's own membership sees
    both peers failed, over refused and over silent cuts; and for each
    silent cut length, the time from heal to converged Global Database
    (equal digests, every node connected to both others)."""
    import tempfile
    results = {}

    def record(name, value):
        results.setdefault(name, []).append(value)
        print(f"  {name}: {value:.2f} s", file=sys.stderr, flush=True)

    for run in range(runs):
        for how in ("refused", "silent") if "cuts" in scenarios else ():
            nodes = []
            lab = Lab(how)
            with tempfile.TemporaryDirectory(prefix="mycelium-measure-") as tmp:
                try:
                    ns = cluster(binary, tmp, nodes, 3, net=lab)
                    n1, rest = ns[0], ns[1:]
                    lab.partition([n1], rest)
                    start = time.monotonic()
                    wait_for("n2 sees n1 failed", lambda: members(rest[0]).get("n1") == "failed",
                             timeout=60, interval=0.02)
                    record(f"failure_detection_{how}_s", time.monotonic() - start)
                    # Both watched in one loop: each figure is when its own
                    # condition first held.
                    seen = {}

                    def both():
                        if "ro" not in seen and mode(n1) == "isolated":
                            seen["ro"] = time.monotonic() - start
                        if "all" not in seen and set(members(n1).values()) == {"failed"}:
                            seen["all"] = time.monotonic() - start
                        return len(seen) == 2
                    wait_for("n1 isolated and seeing both failed", both, timeout=60, interval=0.02)
                    record(f"read_only_{how}_s", seen["ro"])
                    record(f"cut_off_node_sees_all_failed_{how}_s", seen["all"])
                    lab.heal()
                finally:
                    for n in nodes:
                        n.stop()
                    lab.close()
        for cut in cuts if "heal" in scenarios else ():
            nodes = []
            lab = Lab("silent")
            with tempfile.TemporaryDirectory(prefix="mycelium-measure-") as tmp:
                try:
                    ns = cluster(binary, tmp, nodes, 3, net=lab,
                                 isolation={"grace_ms": 3600000})
                    n1, rest = ns[0], ns[1:]
                    lab.partition([n1], rest)
                    start = time.monotonic()
                    n1.console("db", "put", "cut", str(cut), expect=0)
                    rest[0].console("db", "put", "cut-rest", str(cut), expect=0)
                    wait_for("the cut", lambda: time.monotonic() - start >= cut,
                             timeout=cut + 10, interval=0.2)
                    lab.heal()
                    heal = time.monotonic()
                    wait_for("converged", lambda: len({digest(n) for n in ns}) == 1
                             and all(len(n.peers()) == 2 for n in ns), timeout=120, interval=0.05)
                    record(f"heal_to_converged_after_{cut}s_silent_cut_s", time.monotonic() - heal)
                finally:
                    for n in nodes:
                        n.stop()
                    lab.close()
        # Peer system, same cut, same membership timing (memberlist LAN).
        if "peer" not in scenarios:
            continue
        if shutil.which("serf") is None:
            print("  serf not installed (apt-get install serf): no peer figures",
                  file=sys.stderr, flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix="mycelium-measure-") as tmp:
            def ours(lab, ns):
                ns += [Node(binary, os.path.join(tmp, f"n{i}"), name=f"n{i}", profile="lan",
                            membership=MEMBERLIST_LAN) for i in (1, 2, 3)]
                for n in ns:
                    lab.place(n)
                for n in ns:
                    n.config["seeds"] = [m.address for m in ns]
                    n.write_config()
                    n.start()
                for n in ns:
                    n.wait_running()
            d, h = detection_and_heal(ours, lambda n: members(n), 20)
            record("peer_failure_detection_silent_mycelium_s", d)
            record("peer_heal_to_all_alive_mycelium_s", h)

            def serf(lab, agents):
                agents += [SerfAgent(os.path.join(tmp, f"serf{i}"), f"n{i}") for i in (1, 2, 3)]
                for a in agents:
                    lab.host(a)
                agents[0].start()
                wait_for("serf n1 up", lambda: agents[0].members() is not None, timeout=20)
                for a in agents[1:]:
                    a.start(join=f"{agents[0].ip}:7946")
            d, h = detection_and_heal(serf, lambda a: a.members() or {}, 20)
            record("peer_failure_detection_silent_serf_s", d)
            record("peer_heal_to_all_alive_serf_s", h)
    return {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": len(v)}
            for k, v in results.items()}


if __name__ == "__main__":
    if "--measure" in sys.argv:
        args = sys.argv[2:]
        runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 3
        cuts = ([int(c) for c in args[args.index("--cuts") + 1].split(",")]
                if "--cuts" in args else [15, 30, 60, 90])
        scenarios = (args[args.index("--scenarios") + 1].split(",")
                     if "--scenarios" in args else ["cuts", "heal", "peer"])
        out = measure(os.path.abspath(sys.argv[1]), runs, cuts, scenarios)
        if "--json" in args:
            print(json.dumps(out, indent=2))
        else:
            for k, v in out.items():
                print(f"{k:48} median {v['median']:6.2f}  min {v['min']:6.2f}  "
                      f"max {v['max']:6.2f}  ({v['runs']} runs)")
        sys.exit(0)
    tests = [
        test_restart_while_cut_off_takes_no_write,
        test_simultaneous_dials_are_not_attacks,
        test_silent_cut_heals_within_seconds,
        test_cut_off_node_turns_read_only_soon_and_a_blip_does_not,
    ]
    main(tests, tests)
