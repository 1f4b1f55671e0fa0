#!/usr/bin/env python3
"""Process tests of the Global Database with real nodes on loopback.

Usage: gdb.py PATH/TO/myceliumd [test names...]
"""
import signal

from harness import Faults, cluster, lab, main, over, wait_for

MEMBERSHIP = {"probe_interval_ms": 300, "probe_timeout_ms": 150, "suspicion_alpha": 5}


def get(node, key):
    rc, _, _, doc = node.console("--json", "db", "get", key)
    return doc["result"] if rc == 0 else None


def put(node, key, value, kind=None):
    args = ["db", "put", key, value] + (["--type", kind] if kind else [])
    node.console(*args, expect=0)


def test_writes_reach_every_node(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 3, membership=MEMBERSHIP)
    put(ns[0], "user/1", "ada")
    put(ns[1], "hits", "5", "counter")
    put(ns[2], "hits", "2", "counter")
    for n in ns:
        wait_for(f"{n.name} to read user/1", lambda: (get(n, "user/1") or {}).get("value") == "ada")
        wait_for(f"{n.name} to count 7 hits", lambda: (get(n, "hits") or {}).get("value") == 7)
    rc, _, err, _ = ns[0].console("db", "put", "hits", "text")
    assert rc == 1 and "counter" in err, (rc, err)
    ns[0].console("db", "read-only", "on", expect=0)
    rc, _, err, _ = ns[0].console("db", "put", "x", "y")
    assert rc == 1 and "read_only" in err, (rc, err)
    assert get(ns[0], "user/1")["value"] == "ada"
    # The positional type works like --type; tables for humans.
    ns[1].console("db", "put", "tags", "x", "set", expect=0)
    _, out, _, _ = ns[1].console("db", "get", "tags", expect=0)
    assert "tags (set): x" in out, out
    _, out, _, _ = ns[1].console("db", "stats", expect=0)
    assert "LAST RECONCILIATION" in out and "digest" in out, out
    _, out, _, _ = ns[1].console("db", "list", "user/", expect=0)
    assert out.split() == ["user/1"], out


def test_partition_writes_converge_after_heal(binary, tmp, nodes, net=None):
    # The node cut off alone would turn read-only after the isolation grace
    # period (isolation.py tests that); here its writes must get through.
    net = net or Faults()
    ns = cluster(binary, tmp, nodes, 3, net=net, membership=MEMBERSHIP,
                 isolation={"grace_ms": 600000})
    a, rest = ns[0], ns[1:]
    net.partition([a], rest)
    # Both sides keep accepting writes: the same keys and different ones.
    put(a, "shared", "from-a")
    put(a, "count", "10", "counter")
    put(a, "only-a", "1")
    put(rest[0], "shared", "from-b")
    put(rest[0], "count", "5", "counter")
    put(rest[1], "only-b", "2")
    assert get(a, "only-b") is None
    net.heal(ns)

    def same_everywhere():
        views = [(get(n, "shared") or {}).get("value") for n in ns]
        counts = [(get(n, "count") or {}).get("value") for n in ns]
        return (len(set(views)) == 1 and views[0] is not None and counts == [15] * 3
                and all(get(n, "only-a") and get(n, "only-b") for n in ns))
    wait_for("every replica to converge", same_everywhere, timeout=40)

    def digests():
        return {n.console("--json", "db", "stats")[3]["result"]["digest"] for n in ns}
    wait_for("byte-identical replicas (equal stored-state digests)",
             lambda: len(digests()) == 1, timeout=30)


def test_acknowledged_writes_survive_kill_9(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 2, membership=MEMBERSHIP)
    n = ns[0]
    for i in range(30):
        put(n, f"k{i}", f"v{i}")
    n.signal(signal.SIGKILL)  # right after the last acknowledgement
    n.wait_exit()
    n.start()
    n.wait_running()
    for i in range(30):
        assert (get(n, f"k{i}") or {}).get("value") == f"v{i}", i


if __name__ == "__main__":
    main([
        test_writes_reach_every_node,
        test_partition_writes_converge_after_heal,
        test_acknowledged_writes_survive_kill_9,
    ], over(test_partition_writes_converge_after_heal, lab("refused"), lab("silent")))
