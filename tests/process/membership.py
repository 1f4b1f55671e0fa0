#!/usr/bin/env python3
"""Process tests of membership (SWIM + Lifeguard) with 5 real nodes.

Usage: membership.py PATH/TO/myceliumd [test names...]
"""
import os
import signal
import time

from harness import Faults, cluster, lab, main, over, wait_for

# Slower than the local profile, so a loaded CI machine has margin: the
# minimum suspicion timeout is 5 * 300 ms = 1.5 s with 5 nodes.
TIMING = {"probe_interval_ms": 300, "probe_timeout_ms": 150, "suspicion_alpha": 5}


def members(node):
    rc, _, _, doc = node.console("--json", "members")
    if rc != 0:
        return {}
    return {m["name"]: m for m in doc["result"]["members"]}


def state_of(node, name):
    return members(node).get(name, {}).get("state")


def all_see(nodes, name, state):
    return all(state_of(n, name) == state for n in nodes if n.name != name)


def test_five_nodes_form_one_network(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 5, membership=TIMING)
    for n in ns:
        wait_for(f"{n.name} to see four alive members",
                 lambda: sum(1 for m in members(n).values() if m["state"] == "alive") == 4)
    _, out, _, _ = ns[0].console("members", expect=0)
    assert "INCARNATION" in out and "alive" in out


def test_kill_9_is_detected_and_the_restart_rejoins_higher(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 5, membership=TIMING)
    for n in ns:
        wait_for("all alive", lambda: all_see(ns, n.name, "alive"))
    victim = ns[2]
    before = members(ns[0])[victim.name]["incarnation"]
    victim.signal(signal.SIGKILL)
    victim.wait_exit()
    others = [n for n in ns if n is not victim]
    wait_for("everyone to see the killed node failed",
             lambda: all_see(others, victim.name, "failed"), timeout=20)

    # The health monitor follows membership: the node is degraded, and why.
    def health():
        rc, _, _, doc = ns[0].console("--json", "status")
        return doc["result"] if rc == 0 else {}
    wait_for("status to count the failed member",
             lambda: health().get("members", {}).get("failed") == 1)
    assert any(victim.name in r and "failed" in r for r in health()["health"]["reasons"])
    victim.start()
    wait_for("everyone to see it alive again",
             lambda: all_see(others, victim.name, "alive"), timeout=30)
    for n in others:
        assert members(n)[victim.name]["incarnation"] > before
    assert "recovered" in ns[0].log()


def test_a_short_sigstop_is_never_declared_failed(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 5, membership=TIMING)
    for n in ns:
        wait_for("all alive", lambda: all_see(ns, n.name, "alive"))
    victim = ns[1]
    victim.signal(signal.SIGSTOP)
    time.sleep(0.5)  # the fault itself: a pause shorter than the suspicion timeout
    victim.signal(signal.SIGCONT)
    wait_for("everyone to see it alive", lambda: all_see(ns, victim.name, "alive"), timeout=20)
    for n in ns:
        declared = [line for line in n.log().splitlines()
                    if f"membership: {victim.name} (" in line and " failed at " in line]
        assert not declared, declared


def test_a_partition_is_detected_and_heals(binary, tmp, nodes, net=None):
    net = net or Faults()
    ns = cluster(binary, tmp, nodes, 5, net=net, membership=TIMING)
    for n in ns:
        wait_for("all alive", lambda: all_see(ns, n.name, "alive"))
    side_a, side_b = ns[:2], ns[2:]
    net.partition(side_a, side_b)
    for a in side_a:
        for b in side_b:
            wait_for(f"{a.name} to see {b.name} failed", lambda: state_of(a, b.name) == "failed", timeout=20)
            wait_for(f"{b.name} to see {a.name} failed", lambda: state_of(b, a.name) == "failed", timeout=20)
    net.heal(ns)
    for n in ns:
        wait_for(f"everyone to see {n.name} alive", lambda: all_see(ns, n.name, "alive"), timeout=40)


if __name__ == "__main__":
    main([
        test_five_nodes_form_one_network,
        test_kill_9_is_detected_and_the_restart_rejoins_higher,
        test_a_short_sigstop_is_never_declared_failed,
        test_a_partition_is_detected_and_heals,
    ], over(test_a_partition_is_detected_and_heals, lab("refused"), lab("silent")))
