#!/usr/bin/env python3
"""Process tests of the spore tracker with real nodes on loopback.

Usage: spores.py PATH/TO/myceliumd [test names...]
"""
import shutil
import signal

from harness import cluster, main, wait_for

MEMBERSHIP = {"probe_interval_ms": 300, "probe_timeout_ms": 150, "suspicion_alpha": 5}
SPORES = {"slot_ms": 1000, "sync_interval_ms": 300, "return_decision_ms": 3000}


def spores(node):
    """{name: spore} as `node` reports them ({} when unreachable)."""
    rc, _, _, doc = node.console("--json", "spores")
    if rc != 0:
        return {}
    return {s["name"]: s for s in doc["result"]["nodes"]}


def states(node):
    return {name: s["state"] for name, s in spores(node).items()}


def same_spores(nodes):
    """Every node reports the same nodes with the same activity."""
    views = []
    for n in nodes:
        rc, _, _, doc = n.console("--json", "spores")
        if rc != 0:
            return False
        views.append(sorted((s["id"], s["first_seen_ms"], s["incarnation"])
                            for s in doc["result"]["nodes"]))
    return all(v == views[0] for v in views)


def test_spores_converge_after_a_partition_heals(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 4, membership=MEMBERSHIP, spores=SPORES)
    for n in ns:
        wait_for(f"{n.name} to know four online nodes",
                 lambda: list(states(n).values()).count("online") == 4)
    side_a, side_b = ns[:2], ns[2:]
    for a in side_a:
        for b in side_b:
            a.console("fault", "partition", b.name, expect=0)
            b.console("fault", "partition", a.name, expect=0)
    for a in side_a:
        for b in side_b:
            wait_for(f"{a.name} to see {b.name} offline", lambda: states(a).get(b.name) == "offline", timeout=25)
            wait_for(f"{b.name} to see {a.name} offline", lambda: states(b).get(a.name) == "offline", timeout=25)
    # While apart, n4 stops: only its own side sees it go.
    n4 = ns[3]
    n4.signal(signal.SIGTERM)
    n4.wait_exit()
    wait_for("n3 to see n4 offline", lambda: states(ns[2]).get("n4") == "offline", timeout=25)
    for n in ns[:3]:
        n.console("fault", "clear", expect=0)
    live = ns[:3]
    for n in live:
        wait_for(f"{n.name} to see the others online again",
                 lambda: [states(n).get(m.name) for m in live] == ["online"] * 3, timeout=40)
    wait_for("the three live nodes to hold the same spores", lambda: same_spores(live), timeout=20)
    for n in live:
        assert states(n)["n4"] == "offline", states(n)
    # Both sides were active while apart: the return asks for a sync.
    wait_for("n1 to announce n3's return",
             lambda: "returned" in ns[0].log() and "sync_required" in ns[0].log(), timeout=20)
    _, out, _, _ = ns[0].console("spores", expect=0)
    assert "LAST ACTIVITY" in out and "offline" in out
    _, out, _, _ = ns[0].console("spore", "n4", expect=0)
    assert "activity periods" in out
    rc, _, err, _ = ns[0].console("spore", "nobody")
    assert rc == 1 and "nobody" in err, (rc, err)
    # A crash of the tracker: supervision restarts it and it reloads every
    # spore from the store.
    before = states(ns[0])
    ns[0].console("kill", "spores", expect=0)
    wait_for("the restarted tracker to know every node again",
             lambda: set(states(ns[0])) == set(before), timeout=20)
    assert states(ns[0])["n4"] == "offline"
    # n4 stays offline across a restart of the three others.
    for n in live:
        n.signal(signal.SIGTERM)
        n.wait_exit()
    for n in live:
        n.start()
    for n in live:
        n.wait_running()
        wait_for(f"{n.name} to remember n4 as offline after its restart",
                 lambda: states(n).get("n4") == "offline", timeout=20)


def test_offline_nodes_are_remembered_across_restarts(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 3, membership=MEMBERSHIP, spores=SPORES)
    n1, n2, n3 = ns
    for n in ns:
        wait_for(f"{n.name} to know three online nodes",
                 lambda: list(states(n).values()).count("online") == 3)
    n3.signal(signal.SIGTERM)
    n3.wait_exit()
    wait_for("n1 to see n3 offline", lambda: states(n1).get("n3") == "offline", timeout=25)
    # Restart the others: n3's spore comes back from their stores.
    for n in (n1, n2):
        n.signal(signal.SIGTERM)
        n.wait_exit()
    for n in (n1, n2):
        n.start()
    for n in (n1, n2):
        n.wait_running()
        wait_for(f"{n.name} to remember n3 as offline", lambda: states(n).get("n3") == "offline", timeout=20)
    # n2 loses its data dir: it relearns every spore from n1 (as a new
    # identity: the old one is remembered as offline too).
    n2.signal(signal.SIGTERM)
    n2.wait_exit()
    shutil.rmtree(n2.data_dir)
    n2.start()
    n2.wait_running()
    wait_for("the new n2 to relearn n3 from its peer",
             lambda: states(n2).get("n3") == "offline", timeout=25)
    # n3 comes back after having been simply off: the fast path.
    n3.start()
    n3.wait_running()
    wait_for("n1 to see n3 online", lambda: states(n1).get("n3") == "online", timeout=25)
    wait_for("n1 to decide n3's rejoin",
             lambda: any("returned" in line and "independent" in line
                         for line in n1.log().splitlines()), timeout=20)


if __name__ == "__main__":
    main([
        test_spores_converge_after_a_partition_heals,
        test_offline_nodes_are_remembered_across_restarts,
    ])
