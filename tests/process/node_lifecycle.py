#!/usr/bin/env python3
"""Process tests of the foundation: config errors, lifecycle, supervision
and state recovery with real myceliumd processes.

Usage: node_lifecycle.py PATH/TO/myceliumd [test names...]
"""
import errno
import json
import os
import signal
import sqlite3
import subprocess
import time

from harness import Node, Skipped, cluster, main, run, running_node, wait_for


def test_help_and_version_exit_zero(binary, tmp, nodes):
    r = run([binary, "--help"])
    assert r.returncode == 0 and "usage: myceliumd" in r.stdout, r
    r = run([binary, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("myceliumd "), r
    r = run([binary, "--bogus"])
    assert r.returncode == 2 and "unknown argument" in r.stderr, r


def test_check_config_accepts_the_shipped_configs(binary, tmp, nodes):
    root = os.path.join(os.path.dirname(__file__), "..", "..", "config")
    for name in ["local/node1.json", "local/node2.json", "local/node3.json",
                 "node.example.json"]:
        r = run([binary, "--check-config", os.path.join(root, name)])
        assert r.returncode == 0, (name, r.stderr)


def test_bad_config_exits_2_names_the_cause_and_creates_nothing(binary, tmp, nodes):
    n = Node(binary, tmp, listen="127.0.0.1:70000")
    r = run([binary, "--config", n.config_path])
    assert r.returncode == 2, r
    assert "node.json" in r.stderr and "listen" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not os.path.exists(n.data_dir)
    with open(n.config_path, "w") as f:
        f.write('{ "name": "n1",\n  "listen": 5 ')
    r = run([binary, "--check-config", n.config_path])
    assert r.returncode == 2 and "line 2" in r.stderr, r.stderr
    assert not os.path.exists(n.data_dir)


def test_sigterm_stops_cleanly_with_exit_code_zero(binary, tmp, nodes):
    n = running_node(binary, tmp, nodes)
    n.signal(signal.SIGTERM)
    assert n.wait_exit() == 0
    assert "stopped" in n.log()
    r = run([binary, "--status", "--config", n.config_path])
    assert r.returncode == 4, r


def test_sigint_stops_cleanly_too(binary, tmp, nodes):
    n = running_node(binary, tmp, nodes)
    n.signal(signal.SIGINT)
    assert n.wait_exit() == 0


def test_crashed_child_is_restarted_with_its_state(binary, tmp, nodes):
    n = running_node(binary, tmp, nodes)
    before = wait_for("two samples", lambda: (n.status() or {}).get("samples_recorded", 0) >= 2 and n.status())
    n.signal(signal.SIGUSR1)  # fault injection: crash the health monitor
    c = wait_for("the restart to show",
                 lambda: (lambda c: c if c and c["restarts"] == 1 and c["state"] == "running" else None)(n.component()))
    assert "fault_injected" in c["last_reason"], c
    after = n.status()
    # The restarted monitor reloaded the persisted history: nothing was lost.
    assert after["samples_recorded"] >= before["samples_recorded"], (before, after)
    assert "restarting health" in n.log()
    assert n.proc.poll() is None


def test_fault_injection_is_refused_when_disabled(binary, tmp, nodes):
    n = running_node(binary, tmp, nodes, allow_fault_injection=False)
    n.signal(signal.SIGUSR1)
    wait_for("the refusal in the log", lambda: "fault injection is disabled" in n.log())
    assert n.component()["restarts"] == 0


def test_kill_9_and_restart_keeps_state(binary, tmp, nodes):
    n = running_node(binary, tmp, nodes)
    n.signal(signal.SIGUSR1)
    wait_for("the restart", lambda: (n.component() or {}).get("restarts") == 1)
    before = wait_for("samples", lambda: (n.status() or {}).get("samples_recorded", 0) >= 3 and n.status())
    n.signal(signal.SIGKILL)
    n.wait_exit()
    n.start()
    n.wait_running()
    st = n.status()
    health = n.component()
    assert health["restarts"] == 1, health           # restart history survived
    assert st["samples_recorded"] >= before["samples_recorded"], (before, st)
    assert st["boot"] != before["boot"]
    n.signal(signal.SIGTERM)
    assert n.wait_exit() == 0


def test_a_second_node_on_the_same_data_dir_is_refused(binary, tmp, nodes):
    a = running_node(binary, tmp, nodes)
    b = subprocess_run_same(binary, a)
    assert b.returncode == 1, b
    assert "in use by another myceliumd" in (b.stderr + a.log()), b


def subprocess_run_same(binary, node):
    return run([binary, "--config", node.config_path], timeout=20)


def test_corrupt_database_is_refused_with_its_path(binary, tmp, nodes):
    n = Node(binary, tmp)
    os.makedirs(n.data_dir)
    db = os.path.join(n.data_dir, "mycelium.db")
    with open(db, "wb") as f:
        f.write(b"this is not a database" * 100)
    r = run([binary, "--config", n.config_path], timeout=20)
    assert r.returncode == 1, r
    assert db in n.log() and "not a SQLite database" in n.log(), n.log()
    with open(db, "rb") as f:
        assert f.read(22) == b"this is not a database"  # left untouched


def test_damaged_stored_incarnation_is_refused_with_the_cause(binary, tmp, nodes):
    n = running_node(binary, tmp, nodes)
    n.signal(signal.SIGTERM)
    assert n.wait_exit() == 0
    db = sqlite3.connect(os.path.join(n.data_dir, "mycelium.db"))
    db.execute("INSERT OR REPLACE INTO actor_state(owner, key, value, revision) "
               "VALUES ('membership', 'incarnation', 'seven', 1)")
    db.commit()
    db.close()
    r = run([binary, "--config", n.config_path], timeout=60)
    assert r.returncode == 1, r
    assert "the stored incarnation 'seven' is not a number" in n.log(), n.log()[-3000:]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_nodes_do_not_spin(binary, tmp, nodes):
    # Two connected nodes with nothing to do (probes, ticks and metrics
    # only) must leave the CPU alone: the scheduler's workers block instead
    # of polling (they used ~20% of a core each before).
    a, b = cluster(binary, tmp, nodes, 2)
    window = 5.0
    before = cpu_seconds(a.proc.pid)
    start = time.monotonic()
    time.sleep(window)  # a measurement window, not a wait for a condition
    used = cpu_seconds(a.proc.pid) - before
    share = used / (time.monotonic() - start)
    # ~6% measured on the 2-core VM; the old scheduler default used 18-20%.
    assert share < 0.12, f"an idle node used {share:.1%} of a core"


def fill(path):
    """Writes zeros to `path` until the file system is full. Unbuffered: a
    buffered file would try to write its rest again on close and raise
    ENOSPC there."""
    with open(path, "wb", buffering=0) as f:
        block = b"\0" * 65536
        try:
            while f.write(block):
                pass
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def test_full_disk_refuses_writes_and_keeps_serving(binary, tmp, nodes):
    # n1's data dir is on a small tmpfs that the test fills up. Writes must
    # be refused naming the cause and change nothing; the node keeps serving
    # (reads, peers, console, metrics) instead of crash-looping into a stop;
    # once space is back, writes succeed and missed merges arrive.
    mnt = os.path.join(tmp, "small-disk")
    os.makedirs(mnt)
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt]).returncode != 0:
        raise Skipped("needs root to mount a tmpfs")
    members = []
    try:
        a = Node(binary, os.path.join(tmp, "n1"), name="n1", data_dir=os.path.join(mnt, "data"))
        b = Node(binary, os.path.join(tmp, "n2"), name="n2")
        members = [a, b]
        for m in members:
            m.config["seeds"] = [a.address, b.address]
            m.write_config()
            nodes.append(m)
            m.start()
        for m in members:
            m.wait_running()
            wait_for(f"{m.name} to connect", lambda: len(m.peers()) == 1, timeout=20)
        get = lambda n, k: (n.console("--json", "db", "get", k)[3] or {}).get("result", {}).get("value")
        a.console("db", "put", "before", "1", expect=0)
        wait_for("n2 to read before", lambda: get(b, "before") == "1")
        filler = os.path.join(mnt, "filler")
        fill(filler)

        rc, _, err, _ = a.console("db", "put", "k", "v")
        assert rc == 1 and "not applied" in err and "full" in err, (rc, err)
        rc, _, err, _ = a.console("db", "get", "k")
        assert rc == 1 and "no key" in err, err  # the refused write changed nothing
        assert get(a, "before") == "1"
        # A write on n2 reaches n1, which cannot save it and does not keep it.
        b.console("db", "put", "from-n2", "x", expect=0)
        wait_for("n1 to count failed writes", lambda: 'component="gdb"' in
                 "".join(l for l in a.console("metrics", expect=0)[1].splitlines()
                         if l.startswith("mycelium_store_write_failures_total")))
        # Health samples, alert evaluations and probes go on failing to save
        # for a while: the node stays up and answers.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert a.proc.poll() is None, a.log()
            a.console("status", expect=0)
            time.sleep(0.2)
        assert "n2" in a.peers()
        assert get(a, "from-n2") is None
        assert a.log().count("cannot persist gdb entries") == 1, a.log()
        # The operator is told: a critical alert per failing component,
        # fired and notified although the alert state cannot be saved.
        firing = lambda: {x["labels"].get("component") for x in
                          a.console("--json", "alerts", expect=0)[3]["result"]["alerts"]
                          if x["alertname"] == "StoreWriteFailing" and x["state"] == "firing"}
        wait_for("StoreWriteFailing firing for gdb", lambda: "gdb" in firing())
        wait_for("its notification in the log channel", lambda: "StoreWriteFailing" in a.log())

        # A node that joins now is learned (spore, member) in memory only.
        c = Node(binary, os.path.join(tmp, "n3"), name="n3", seeds=[a.address, b.address])
        members.append(c)
        nodes.append(c)
        c.start()
        c.wait_running()
        spores = lambda: {s["name"]: s["state"] for s in
                          (a.console("--json", "spores")[3] or {}).get("result", {}).get("nodes", [])}
        wait_for("n1 to learn n3", lambda: "n3" in spores(), timeout=20)
        # ... and it leaves again before space is back: nothing about n3
        # changes afterwards, so only carrying the unsaved spore into a later
        # save keeps it.
        c.signal(signal.SIGTERM)
        assert c.wait_exit() == 0
        wait_for("n1 to see n3 offline", lambda: spores().get("n3") == "offline", timeout=20)

        os.remove(filler)
        a.console("db", "put", "k", "v", expect=0)
        wait_for("anti-entropy to bring from-n2 to n1", lambda: get(a, "from-n2") == "x", timeout=20)
        wait_for("n1 to save its spores", lambda: "spores: writes to the store succeed again" in a.log())
        wait_for("StoreWriteFailing to resolve", lambda: not firing(), timeout=20)
        # Alone after a restart, n1 still knows n3: the spore unsaved while
        # the disk was full was saved once space was back.
        for m in (b, a):
            m.signal(signal.SIGTERM)
            assert m.wait_exit() == 0
        a.start()
        a.wait_running()
        assert get(a, "k") == "v" and get(a, "from-n2") == "x"
        assert spores().get("n3") == "offline", spores()
    finally:
        for m in members:
            m.stop()
        if subprocess.run(["umount", mnt]).returncode != 0:
            subprocess.run(["umount", "-l", mnt])  # never leave it mounted


if __name__ == "__main__":
    main([
        test_help_and_version_exit_zero,
        test_check_config_accepts_the_shipped_configs,
        test_bad_config_exits_2_names_the_cause_and_creates_nothing,
        test_sigterm_stops_cleanly_with_exit_code_zero,
        test_sigint_stops_cleanly_too,
        test_crashed_child_is_restarted_with_its_state,
        test_fault_injection_is_refused_when_disabled,
        test_kill_9_and_restart_keeps_state,
        test_a_second_node_on_the_same_data_dir_is_refused,
        test_corrupt_database_is_refused_with_its_path,
        test_damaged_stored_incarnation_is_refused_with_the_cause,
        test_idle_nodes_do_not_spin,
        test_full_disk_refuses_writes_and_keeps_serving,
    ])
