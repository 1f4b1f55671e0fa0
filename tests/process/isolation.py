#!/usr/bin/env python3
"""Process tests of the isolation controller with real nodes on loopback:
a node that loses the network turns read-only, an operator (or the timer)
overrides it, and a peer's return ends it.

Usage: isolation.py PATH/TO/myceliumd [test names...]
"""
import os
import signal

from harness import Faults, Node, cluster, lab, main, over, wait_for

MEMBERSHIP = {"probe_interval_ms": 300, "probe_timeout_ms": 150, "suspicion_alpha": 2}


def isolation(node):
    return node.console("--json", "isolation", expect=0)[3]["result"]


def mode(node):
    return isolation(node)["mode"]


def get(node, key):
    rc, _, _, doc = node.console("--json", "db", "get", key)
    return doc["result"]["value"] if rc == 0 else None


def test_cut_off_node_is_read_only_until_override_then_rejoins(binary, tmp, nodes, net=None):
    net = net or Faults()
    ns = cluster(binary, tmp, nodes, 3, net=net, membership=MEMBERSHIP,
                 isolation={"grace_ms": 1000, "override_after_ms": 600000})
    n1, rest = ns[0], ns[1:]
    n1.console("db", "put", "before", "1", expect=0)
    wait_for("n3 to read 'before'", lambda: get(ns[2], "before") == "1")
    assert mode(n1) == "connected"
    net.partition([n1], rest)
    doc = wait_for("n1 isolated", lambda: (lambda d: d if d["mode"] == "isolated" else None)(
        isolation(n1)), timeout=20)
    assert doc["read_only"] and doc["reachable"] == 0, doc
    assert sorted(n["name"] for n in doc["unreachable"]) == ["n2", "n3"], doc
    assert set(doc["dialed"]) == {n.address for n in rest}, doc
    # Reads go on; writes are refused with the reason; nothing changes.
    assert get(n1, "before") == "1"
    rc, _, err, _ = n1.console("db", "put", "during", "x")
    assert rc == 1 and "isolated" in err and "isolation override" in err, (rc, err)
    assert get(n1, "during") is None
    # The majority side is not isolated and keeps taking writes.
    assert mode(ns[1]) == "connected"
    ns[1].console("db", "put", "majority", "m", expect=0)
    # Too early for an override without --force: refused with the setting.
    rc, _, err, _ = n1.console("isolation", "override", "planned work")
    assert rc == 1 and "override_after_ms" in err and "--force" in err, (rc, err)
    _, out, _, _ = n1.console("isolation", expect=0)
    assert "isolation: isolated (read-only)" in out and "UNREACHABLE" in out, out
    # Forced: writable, and the table says who and why.
    n1.console("isolation", "override", "--force", "planned", "work", expect=0)
    doc = isolation(n1)
    assert doc["mode"] == "overridden" and not doc["read_only"], doc
    assert doc["override_reason"] == "planned work", doc
    n1.console("db", "put", "during", "x", expect=0)
    _, out, _, _ = n1.console("isolation", expect=0)
    assert "overridden by the console" in out and "planned work" in out, out
    metrics = n1.console("metrics", expect=0)[1]
    assert 'mycelium_isolation_mode{mode="overridden"} 1' in metrics, metrics
    assert 'mycelium_isolation_events_total{event="isolated"} 1' in metrics, metrics
    # Heal: n1 rejoins by itself and both sides' writes meet.
    net.heal(ns)
    wait_for("n1 connected again", lambda: mode(n1) == "connected", timeout=20)
    for n in ns:
        wait_for(f"{n.name} to read both sides' writes",
                 lambda: get(n, "during") == "x" and get(n, "majority") == "m", timeout=20)
    log = n1.log()
    assert "isolation: isolated: no peer reachable" in log, log
    assert "isolation: overridden: override by the console" in log, log
    assert "isolation: rejoined: " in log, log
    assert "gdb: read-only: the node is isolated" in log, log


def test_lone_survivor_override_refused_for_resources_then_auto_and_restart(binary, tmp, nodes):
    # A node that never met another one is a network of one: not isolated.
    lone = Node(binary, os.path.join(tmp, "lone"), name="lone", isolation={"grace_ms": 300})
    nodes.append(lone)
    lone.start()
    lone.wait_running()
    wait_for("a few ticks past the grace period", lambda: "isolation: starting" in lone.log())
    lone.console("db", "put", "k", "v", expect=0)
    assert mode(lone) == "connected"
    # n1 can never satisfy min_disk_free_ratio 1.0: every override is refused.
    ns = cluster(binary, tmp, nodes, 2, membership=MEMBERSHIP,
                 isolation={"grace_ms": 500, "override_after_ms": 0,
                            "min_disk_free_ratio": 1.0})
    n1, n2 = ns
    n2.signal(signal.SIGKILL)
    n2.wait_exit()
    wait_for("n1 isolated after n2 died", lambda: mode(n1) == "isolated", timeout=20)
    rc, _, err, _ = n1.console("isolation", "override", "--force")
    assert rc == 1 and "disk free" in err and "min_disk_free_ratio" in err, (rc, err)
    assert isolation(n1)["read_only"]
    rc, _, err, _ = n1.console("isolation", "revoke")
    assert rc == 1 and "no override" in err, (rc, err)
    rc, _, err, _ = n1.console("isolation", "sideways")
    assert rc == 2, (rc, err)
    # Restarted with an automatic override and enough disk: the node comes
    # back isolated (its stored state), then overrides itself.
    n1.signal(signal.SIGTERM)
    n1.wait_exit()
    n1.config["isolation"] = {"grace_ms": 500, "override_after_ms": 0,
                              "auto_override_after_ms": 1000}
    n1.write_config()
    n1.start()
    n1.wait_running()
    wait_for("n1 overridden by the timer", lambda: mode(n1) == "overridden", timeout=20)
    assert isolation(n1)["overridden_by"] == "auto"
    n1.console("db", "put", "alone", "yes", expect=0)
    # The override is stored: a restart keeps it while n2 is still away.
    n1.signal(signal.SIGTERM)
    n1.wait_exit()
    n1.start()
    n1.wait_running()
    assert mode(n1) == "overridden"
    n1.console("db", "put", "alone", "still", expect=0)
    # n2 returns: n1 rejoins and n2 gets what n1 took meanwhile.
    n2.start()
    n2.wait_running()
    wait_for("n1 connected again", lambda: mode(n1) == "connected", timeout=20)
    wait_for("n2 to read n1's write", lambda: get(n2, "alone") == "still", timeout=20)


if __name__ == "__main__":
    main([
        test_cut_off_node_is_read_only_until_override_then_rejoins,
        test_lone_survivor_override_refused_for_resources_then_auto_and_restart,
    ], over(test_cut_off_node_is_read_only_until_override_then_rejoins,
            lab("refused"), lab("silent"), lab("oneway")))
