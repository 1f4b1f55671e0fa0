#!/usr/bin/env python3
"""Process tests of hosted services with real nodes on loopback: one
instance per network, failover when its host is lost, and the resolution
of a split (two instances after a partition) when the sides meet again.

Usage: services.py PATH/TO/myceliumd [test names...]
"""
import signal

from harness import Faults, cluster, lab, main, over, wait_for

MEMBERSHIP = {"probe_interval_ms": 300, "probe_timeout_ms": 150, "suspicion_alpha": 2}
SERVICES = {"tick_ms": 300, "hosted": [
    {"name": "orders", "kind": "counter"},                          # busiest wins
    {"name": "tally", "kind": "counter", "merge": "counter-sum"},   # merge actor
    {"name": "profile", "kind": "kv", "merge": "kv-union"},
]}


def services(node):
    rc, _, _, doc = node.console("--json", "service", "list")
    assert rc != 0 or isinstance(doc["result"], dict), doc
    return {s["name"]: s for s in doc["result"]["services"]} if rc == 0 else {}


def instances(node, name):
    return services(node).get(name, {}).get("instances", [])


def host_of(nodes, name):
    """The node that hosts the single reachable instance of `name`."""
    for n in nodes:
        for i in instances(n, name):
            if i["here"]:
                return n
    return None


def call(node, *args, expect=0):
    rc, out, err, _ = node.console("service", "call", *args)
    assert expect is None or rc == expect, (node.name, args, rc, out, err)
    return out.strip() if rc == 0 else err


def one_instance_everywhere(nodes, name):
    views = [[i["id"] for i in instances(n, name)] for n in nodes]
    return len(views[0]) == 1 and all(v == views[0] for v in views)


def test_split_brain_resolved_by_each_services_strategy(binary, tmp, nodes, net=None):
    net = net or Faults()
    ns = cluster(binary, tmp, nodes, 4, net=net, membership=MEMBERSHIP, services=SERVICES,
                 isolation={"grace_ms": 600000})
    for name in ("orders", "tally", "profile"):
        wait_for(f"one instance of {name} known everywhere",
                 lambda: one_instance_everywhere(ns, name), timeout=20)
    tally_host = host_of(ns, "tally")
    assert call(tally_host, "tally", "add", "10") == "10"
    call(host_of(ns, "orders"), "orders", "add", "1")
    call(host_of(ns, "profile"), "profile", "put", "name", "ada")
    call(host_of(ns, "profile"), "profile", "put", "city", "paris")
    # Anywhere else: refused, naming the host.
    other = next(n for n in ns if n is not tally_host)
    err = call(other, "tally", "add", "1", expect=1)
    assert "does not run on this node" in err and tally_host.name in err, err
    for n in ns:
        wait_for(f"{n.name} to hold tally's record at 10", lambda: any(
            i["state"] == {"value": 10} for i in instances(n, "tally")), timeout=20)
        wait_for(f"{n.name} to hold profile's record", lambda: any(
            i["state"].get("city") == "paris" for i in instances(n, "profile")), timeout=20)
    # Split the network 2/2, the tally host on side A: side B fails over.
    side_a = [tally_host, next(n for n in ns if n is not tally_host)]
    side_b = [n for n in ns if n not in side_a]
    net.partition(side_a, side_b)
    for name in ("orders", "tally", "profile"):
        for side in (side_a, side_b):
            wait_for(f"{name} running on {[n.name for n in side]}",
                     lambda: host_of(side, name) is not None, timeout=30)
    b_tally = host_of(side_b, "tally")
    fork = next(i for i in instances(b_tally, "tally") if i["here"])
    assert fork["forked_from"] and fork["state"] == {"value": 10}, fork
    # Both sides work: tally +5 on A, +7 on B; orders busier on B.
    assert call(tally_host, "tally", "add", "5") == "15"
    assert call(b_tally, "tally", "add", "7") == "17"
    call(host_of(side_a, "orders"), "orders", "add", "100")
    for _ in range(3):
        call(host_of(side_b, "orders"), "orders", "add", "1")
    call(host_of(side_a, "profile"), "profile", "put", "name", "grace")
    call(host_of(side_b, "profile"), "profile", "put", "lang", "en")
    call(host_of(side_b, "profile"), "profile", "del", "city")
    # Heal: each service ends with one instance, chosen by its strategy.
    net.heal(ns)
    for name in ("orders", "tally", "profile"):
        wait_for(f"one instance of {name} again everywhere",
                 lambda: one_instance_everywhere(ns, name), timeout=40)
    tally = instances(ns[0], "tally")[0]
    assert tally["state"] == {"value": 22}, tally       # 10 + 5 + 7
    orders = instances(ns[0], "orders")[0]
    assert orders["state"] == {"value": 4}, orders      # B did more ops: A's +100 dropped
    profile = instances(ns[0], "profile")[0]["state"]
    assert profile == {"name": "grace", "lang": "en"}, profile
    logs = "".join(n.log() for n in ns)
    assert "tally: split resolved: " in logs and "merged into" in logs, logs
    assert "orders: terminated instance" in logs and "split resolved (busiest)" in logs, logs
    # The survivor answers where it runs.
    assert call(host_of(ns, "tally"), "tally", "get") == "22"


def test_failover_when_the_host_dies_and_resume_after_restart(binary, tmp, nodes):
    ns = cluster(binary, tmp, nodes, 3, membership=MEMBERSHIP,
                 services={"tick_ms": 300, "hosted": [{"name": "tally", "kind": "counter"}]})
    # Keys under svc/ that are no records (anyone can write them) are
    # ignored with a warning, never a crash of the service manager.
    ns[0].console("db", "put", "svc/tally/bogus", "5", "--type", "counter", expect=0)
    ns[0].console("db", "put", "svc/tally/junk", "not json", expect=0)
    wait_for("one instance of tally", lambda: one_instance_everywhere(ns, "tally"), timeout=20)
    assert "ignoring svc/tally/bogus" in ns[0].log()
    assert "restarting services" not in ns[0].log(), ns[0].log()
    host = host_of(ns, "tally")
    call(host, "tally", "add", "3")
    rest = [n for n in ns if n is not host]
    for n in rest:
        wait_for(f"{n.name} to hold the record at 3", lambda: any(
            i["state"] == {"value": 3} for i in instances(n, "tally")), timeout=20)
    host.signal(signal.SIGKILL)
    host.wait_exit()
    new_host = wait_for("a failover instance", lambda: host_of(rest, "tally"), timeout=30)
    assert call(new_host, "tally", "add", "4") == "7"
    # The new host restarts: it resumes its instance from its record.
    new_host.signal(signal.SIGTERM)
    new_host.wait_exit()
    new_host.start()
    new_host.wait_running()
    wait_for("the instance resumed", lambda: host_of([new_host], "tally") is not None, timeout=20)
    assert call(new_host, "tally", "get") == "7"
    # The old host returns with its stale instance: the busiest (7) stays.
    host.start()
    host.wait_running()
    wait_for("one instance everywhere again", lambda: one_instance_everywhere(ns, "tally"),
             timeout=40)
    assert instances(host, "tally")[0]["state"] == {"value": 7}


if __name__ == "__main__":
    main([
        test_split_brain_resolved_by_each_services_strategy,
        test_failover_when_the_host_dies_and_resume_after_restart,
    ], over(test_split_brain_resolved_by_each_services_strategy, lab("silent")))
