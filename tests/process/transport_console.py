#!/usr/bin/env python3
"""Process tests of the transport and the console: real myceliumd processes
on loopback, TLS-PSK between them, the mycelium console against them, and a
hostile peer (mycelium-probe) for every rejection case.

Usage: transport_console.py PATH/TO/myceliumd [test names...]
(mycelium and mycelium-probe are looked up next to myceliumd and in
../tests/.)
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from harness import (ADMIN_HEX, KEY2_HEX, KEY_HEX, Node, cluster, main, run,
                     running_node, wait_for)


def probe_path(binary):
    return os.path.join(os.path.dirname(binary), "..", "tests", "mycelium-probe")


def probe(binary, node, mode, key=KEY_HEX):
    return run([probe_path(binary), node.address, node.config["network_id"], key, mode],
               timeout=30)


def test_three_nodes_connect_and_exchange_frames_both_ways(binary, tmp, nodes):
    a, b, c = cluster(binary, tmp, nodes, 3)
    for src, dst in [(a, "n2"), (b, "n1"), (c, "n1"), (a, "n3")]:
        rc, out, err, doc = src.console("--json", "ping", dst)
        assert rc == 0, (out, err)
        assert doc["result"]["rtt_us"] > 0
    rc, out, _, _ = a.console("ping", "n2", expect=0)
    assert "pong from" in out
    rc, _, _, doc = a.console("--json", "peers", expect=0)
    for conn in doc["result"]["connections"]:
        if conn["phase"] == "established":
            assert conn["version"] == 1
            assert "ECDHE_PSK" in conn["cipher"], conn
    assert "connected to n2" in a.log() or "connected to n2" in b.log()


def test_disjoint_protocol_versions_are_rejected_with_both_ranges(binary, tmp, nodes):
    a = Node(binary, os.path.join(tmp, "a"), name="a")
    nodes.append(a)
    a.start()
    a.wait_running()
    b = Node(binary, os.path.join(tmp, "b"), name="b", seeds=[a.address],
             transport={"protocol_min": 2, "protocol_max": 3})
    nodes.append(b)
    b.start()
    b.wait_running()
    wait_for("a version_mismatch rejection",
             lambda: a.rejections().get("version_mismatch", 0) + b.rejections().get("version_mismatch", 0) >= 1)
    both = a.log() + b.log()
    assert "ours 1-1, peer's 2-3" in both or "ours 2-3, peer's 1-1" in both, both
    assert a.peers() == {} and b.peers() == {}


def test_wrong_network_and_wrong_key_are_refused_and_counted(binary, tmp, nodes):
    a = Node(binary, os.path.join(tmp, "a"), name="a")
    nodes.append(a)
    a.start()
    a.wait_running()
    other = Node(binary, os.path.join(tmp, "o"), name="o", seeds=[a.address], network_id="othernet")
    nodes.append(other)
    other.start()
    badkey = Node(binary, os.path.join(tmp, "k"), name="k", seeds=[a.address], isolation_keys=["net2.key"])
    nodes.append(badkey)
    badkey.start()
    wait_for("wrong_network and unknown_key rejections",
             lambda: (lambda r: r.get("wrong_network", 0) >= 1 and r.get("unknown_key", 0) >= 1)(a.rejections()))
    assert a.peers() == {}
    assert "wrong_network" in a.log() and "othernet" in a.log()


def test_hostile_peers_are_refused_and_the_node_keeps_serving(binary, tmp, nodes):
    a, b = cluster(binary, tmp, nodes, 2)
    cases = [("bad-signature", "bad_signature"), ("bad-id", "bad_hello"),
             ("oversized", "frame_too_large"), ("malformed", "malformed_frame"),
             ("truncated", "handshake_timeout")]
    for mode, reason in cases:
        r = probe(binary, a, mode)
        assert r.returncode == 0, (mode, r.stdout, r.stderr)
        wait_for(f"{reason} counted", lambda: a.rejections().get(reason, 0) >= 1)
        assert reason in a.log(), (reason, a.log()[-2000:])
    r = probe(binary, a, "bad-signature")
    assert "bad_signature" in r.stdout, r.stdout  # the Reject names the cause
    # Garbage instead of TLS, and a handshake that never starts.
    with socket.create_connection(("127.0.0.1", a.port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        assert s.recv(100) == b""  # closed by the node
    wait_for("not_tls counted", lambda: a.rejections().get("not_tls", 0) >= 1)
    with socket.create_connection(("127.0.0.1", a.port)) as s:
        s.settimeout(10)
        assert s.recv(100) == b""  # closed after the handshake timeout
    wait_for("two handshake timeouts", lambda: a.rejections().get("handshake_timeout", 0) >= 2)
    assert a.peers() == {"n2": b.peers()["n1"] and a.peers()["n2"]}
    a.console("ping", "n2", expect=0)


def test_a_flood_of_idle_connections_is_capped(binary, tmp, nodes):
    # 300 connections that never start TLS against a cap of 32 handshakes in
    # progress: the oldest are closed as new ones come, so the node's file
    # descriptors stay free, the console still gets in, the peer stays, and
    # the log gets 10 lines and a summary instead of one line each.
    a, b = cluster(binary, tmp, nodes, 2, transport={"max_pending_handshakes": 32})
    flood = []
    try:
        for _ in range(300):
            flood.append(socket.create_connection(("127.0.0.1", a.port)))
        wait_for("the oldest closed", lambda: a.rejections().get("too_many_handshakes", 0) >= 268)
        a.console("ping", "n2", expect=0)
        assert "n2" in a.peers()
        fds = len(os.listdir(f"/proc/{a.proc.pid}/fd"))
        assert fds < 150, f"{fds} open file descriptors"
    finally:
        for s in flood:
            s.close()
    lines = [l for l in a.log().splitlines() if "too_many_handshakes" in l]
    refused = [l for l in lines if "refused connection" in l]
    assert 1 <= len(refused) <= 20, lines  # 10 per 10 s window
    wait_for("the summary of the others", lambda: any(
        "more connections (too_many_handshakes)" in l for l in a.log().splitlines()), timeout=20)


def test_a_second_node_with_a_connected_id_is_refused(binary, tmp, nodes):
    a, b = cluster(binary, tmp, nodes, 2)
    twin = Node(binary, os.path.join(tmp, "twin"), name="twin", seeds=[a.address])
    os.makedirs(twin.data_dir)
    shutil.copy(os.path.join(b.data_dir, "identity.key"), os.path.join(twin.data_dir, "identity.key"))
    os.chmod(os.path.join(twin.data_dir, "identity.key"), 0o600)
    nodes.append(twin)
    twin.start()
    wait_for("duplicate_id counted", lambda: a.rejections().get("duplicate_id", 0) >= 1)
    assert "already connected from" in a.log()
    assert list(a.peers().keys()) == ["n2"], (a.peers(), a.log()[-3000:])
    a.console("ping", "n2", expect=0)


def test_peers_reconnect_after_a_restart(binary, tmp, nodes):
    a, b, c = cluster(binary, tmp, nodes, 3)
    b.signal(signal.SIGKILL)
    b.wait_exit()
    wait_for("a to lose n2", lambda: "n2" not in a.peers())
    b.start()
    b.wait_running()
    wait_for("a to reconnect n2", lambda: "n2" in a.peers(), timeout=20)
    wait_for("c to reconnect n2", lambda: "n2" in c.peers(), timeout=20)
    a.console("ping", "n2", expect=0)


def test_key_rotation_without_downtime(binary, tmp, nodes):
    # n1 still uses the old key only; n2 accepts both and already uses the
    # new one; n3 moved to the new key only.
    a = Node(binary, os.path.join(tmp, "a"), name="n1", isolation_keys=["net.key"])
    b = Node(binary, os.path.join(tmp, "b"), name="n2", isolation_keys=["net2.key", "net.key"])
    c = Node(binary, os.path.join(tmp, "c"), name="n3", isolation_keys=["net2.key"])
    for n in (a, b, c):
        n.config["seeds"] = [a.address, b.address, c.address]
        n.write_config()
        nodes.append(n)
        n.start()
    wait_for("n2 to reach n1 and n3", lambda: set(b.peers()) == {"n1", "n3"}, timeout=20)
    assert "n3" not in a.peers()  # no key in common
    wait_for("n1 counts n3's unknown key", lambda: a.rejections().get("unknown_key", 0) >= 1)


def test_console_commands_in_table_and_json(binary, tmp, nodes):
    a, b = cluster(binary, tmp, nodes, 2)
    for cmd in (["status"], ["actors"], ["peers"], ["inspect", "health"], ["inspect", "transport"],
                ["inspect", "node"]):
        rc, out, err, _ = a.console(*cmd)
        assert rc == 0 and out.strip(), (cmd, out, err)
        rc, out, err, doc = a.console("--json", *cmd)
        assert rc == 0 and doc["ok"] is True, (cmd, out, err)
    _, out, _, _ = a.console("status")
    assert "health:" in out and "node/transport" in out
    _, out, _, _ = a.console("actors")
    assert "node/health" in out and "UPTIME" in out
    # kill ACTOR, then inspect shows the restart and the recovered state.
    before = a.console("--json", "inspect", "health")[3]["result"]
    a.console("kill", "health", expect=0)
    wait_for("the restart to show",
             lambda: [c for c in a.console("--json", "inspect", "health")[3]["result"]["components"]
                      if c["path"] == "node/health"][0]["restarts"] == 1)
    after = a.console("--json", "inspect", "health")[3]["result"]
    assert after["samples_recorded"] >= before["samples_recorded"], (before, after)
    rows = a.console("--json", "actors")[3]["result"]
    health = [r for r in rows if r["path"] == "node/health"][0]
    assert health["restarts"] == 1 and health["state"] == "running"
    assert "fault_injected" in health["last_reason"]
    # A bad command is a usage error, an unknown actor a refusal.
    assert a.console("frobnicate")[0] == 2
    assert a.console("inspect", "nosuch")[0] == 1


def test_fault_partition_and_clear(binary, tmp, nodes):
    a, b = cluster(binary, tmp, nodes, 2)
    a.console("fault", "partition", "n2", expect=0)
    rc, _, err, _ = a.console("ping", "n2")
    assert rc == 1 and "no pong" in err, err
    rc, _, _, doc = a.console("--json", "peers", expect=0)
    assert doc["result"]["faults"][0]["block_in"] is True
    a.console("fault", "clear", expect=0)
    a.console("ping", "n2", expect=0)
    a.console("fault", "delay", "n2", "200", expect=0)
    rc, _, _, doc = a.console("--json", "ping", "n2", expect=0)
    assert doc["result"]["rtt_us"] >= 200_000, doc
    a.console("fault", "clear", expect=0)

    def frames_from(node, peer):
        doc = node.console("--json", "peers", expect=0)[3]["result"]
        return sum(c["frames_in"] for c in doc["connections"] if c["name"] == peer)

    # One way: what n2 sends is dropped on the way in, what a sends still
    # arrives (n2 counts frames from n1 while a's ping gets no pong).
    a.console("fault", "partition", "n2", "in", expect=0)
    doc = a.console("--json", "peers", expect=0)[3]["result"]
    rule = doc["faults"][0]
    assert rule["block_in"] is True and rule["block_out"] is False, rule
    heard = frames_from(b, "n1")
    rc, _, err, _ = a.console("ping", "n2")
    assert rc == 1 and "no pong" in err, err
    assert frames_from(b, "n1") > heard
    assert a.console("--json", "peers", expect=0)[3]["result"]["fault_drops"] > 0
    a.console("fault", "clear", expect=0)
    a.console("ping", "n2", expect=0)
    # Drop every outgoing frame to n2: the ping never leaves.
    a.console("fault", "drop", "n2", "1.0", "out", expect=0)
    rc, _, err, _ = a.console("ping", "n2")
    assert rc == 1 and "no pong" in err, err
    a.console("fault", "clear", expect=0)
    # Duplicate every outgoing frame: n2 receives each twice, still
    # answers, and counts a counter's increments once (merges are
    # idempotent), also once both copies of the second write are in.
    a.console("fault", "duplicate", "n2", "1.0", expect=0)
    rule = a.console("--json", "peers", expect=0)[3]["result"]["faults"][0]
    assert rule["duplicate"] == 1.0, rule
    heard = frames_from(b, "n1")
    a.console("ping", "n2", expect=0)
    assert frames_from(b, "n1") >= heard + 2
    hits = lambda: (b.console("--json", "db", "get", "hits")[3] or {}).get("result", {}).get("value")
    a.console("db", "put", "hits", "5", "--type", "counter", expect=0)
    wait_for("n2 to count 5 hits", lambda: hits() == 5)
    heard = frames_from(b, "n1")
    a.console("db", "put", "hits", "3", "--type", "counter", expect=0)
    wait_for("n2 to count 8 hits", lambda: hits() == 8)
    wait_for("both copies of a later frame at n2", lambda: frames_from(b, "n1") >= heard + 2)
    assert hits() == 8
    a.console("fault", "clear", expect=0)
    assert "n2" in a.peers()


def test_bad_fault_rules_are_refused_and_change_nothing(binary, tmp, nodes):
    a, b = cluster(binary, tmp, nodes, 2)
    # Refused by the console before anything is sent (exit 2, usage).
    for args in [("drop", "n2", "abc"), ("duplicate", "n2", "nan"),
                 ("delay", "n2", "inf"), ("drop", "n2", "0.5", "sideways")]:
        rc, _, err, _ = a.console("fault", *args)
        assert rc == 2, (args, rc, err)
    # Refused by the node, naming the field (exit 1): a rule is applied
    # whole or not at all, and the transport keeps running.
    for args, field in [(("drop", "n2", "2.5"), "drop"), (("drop", "n2", "-1", "in"), "drop_in"),
                        (("duplicate", "n2", "1.5"), "duplicate"), (("delay", "n2", "-5"), "delay_ms")]:
        rc, _, err, _ = a.console("fault", *args)
        assert rc == 1 and field in err and "must be" in err, (args, rc, err)
    doc = a.console("--json", "peers", expect=0)[3]["result"]
    assert doc["faults"] == [], doc
    transport = [r for r in a.console("--json", "actors", expect=0)[3]["result"]
                 if r["path"] == "node/transport"][0]
    assert transport["restarts"] == 0, transport
    a.console("ping", "n2", expect=0)


def test_kill_and_fault_are_refused_without_fault_injection(binary, tmp, nodes):
    a = running_node(binary, tmp, nodes, allow_fault_injection=False)
    rc, _, err, _ = a.console("kill", "health")
    assert rc == 1 and "fault injection is disabled" in err, err
    rc, _, err, _ = a.console("fault", "clear")
    assert rc == 1 and "fault injection is disabled" in err, err


def test_wrong_admin_key_exits_3_and_unreachable_exits_4(binary, tmp, nodes):
    a = running_node(binary, tmp, nodes)
    console = os.path.join(os.path.dirname(binary), "mycelium")
    r = run([console, "--node", a.address, "--admin-key", os.path.join(tmp, "net.key"), "status"])
    assert r.returncode == 3 and "authentication failed" in r.stderr, r
    wait_for("the bad admin key counted as such",
             lambda: a.rejections().get("bad_admin_key", 0) >= 1)
    r = run([console, "--node", a.address, "--admin-key", os.path.join(tmp, "admin.key"), "status"])
    assert r.returncode == 0, r
    started = time.monotonic()
    r = run([console, "--node", "127.0.0.1:1", "--admin-key", os.path.join(tmp, "admin.key"),
             "--timeout", "2", "status"])
    assert r.returncode == 4 and "cannot reach" in r.stderr, r
    assert time.monotonic() - started < 10
    r = run([console, "--help"])
    assert r.returncode == 0 and "usage: mycelium" in r.stdout
    r = run([console, "status"])
    assert r.returncode == 2, r


def test_interactive_console_keeps_history(binary, tmp, nodes):
    a = running_node(binary, tmp, nodes)
    console = os.path.join(os.path.dirname(binary), "mycelium")
    env = dict(os.environ, HOME=tmp)
    r = subprocess.run([console, "--config", a.config_path], input="status\nactors\nhistory\n!1\nexit\n",
                       capture_output=True, text=True, env=env, timeout=20)
    assert r.returncode == 0, r
    assert r.stdout.count("health:") == 2, r.stdout  # status, then !1
    assert "1  status" in r.stdout and "2  actors" in r.stdout
    with open(os.path.join(tmp, ".mycelium_history")) as f:
        assert f.read().splitlines()[:2] == ["status", "actors"]


def test_openssl_s_client_completes_a_handshake(binary, tmp, nodes):
    if shutil.which("openssl") is None:
        raise AssertionError("openssl is not installed (tools/test installs it)")
    a = running_node(binary, tmp, nodes)
    node_id = re.search(r"as node ([0-9a-f]{32})", a.log()).group(1)
    # s_client sends a line the node cannot take as a frame; the node closes.
    r = subprocess.run(["openssl", "s_client", "-tls1_2", "-ign_eof", "-psk", KEY_HEX,
                        "-psk_identity", a.config["network_id"], "-connect", a.address],
                       input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True,
                       errors="replace", timeout=20)
    assert "ECDHE-PSK-CHACHA20-POLY1305" in r.stdout, (r.stdout, r.stderr)
    assert "TLSv1.2" in r.stdout
    # Records both ways are standard TLS: OpenSSL opened the node's Hello
    # (its node id is in the plaintext s_client prints) ...
    assert node_id in r.stdout, (r.stdout[-2000:], r.stderr)
    assert "bad record mac" not in (r.stdout + r.stderr).lower()
    # ... and the node opened OpenSSL's record: its bytes reached the frame
    # decoder ("GET " read as a length), not a record authentication failure.
    wait_for("frame_too_large counted", lambda: a.rejections().get("frame_too_large", 0) >= 1)
    assert "bad_record_mac" not in a.log()


if __name__ == "__main__":
    main([
        test_three_nodes_connect_and_exchange_frames_both_ways,
        test_disjoint_protocol_versions_are_rejected_with_both_ranges,
        test_wrong_network_and_wrong_key_are_refused_and_counted,
        test_hostile_peers_are_refused_and_the_node_keeps_serving,
        test_a_flood_of_idle_connections_is_capped,
        test_a_second_node_with_a_connected_id_is_refused,
        test_peers_reconnect_after_a_restart,
        test_key_rotation_without_downtime,
        test_console_commands_in_table_and_json,
        test_fault_partition_and_clear,
        test_bad_fault_rules_are_refused_and_change_nothing,
        test_kill_and_fault_are_refused_without_fault_injection,
        test_wrong_admin_key_exits_3_and_unreachable_exits_4,
        test_interactive_console_keeps_history,
        test_openssl_s_client_completes_a_handshake,
    ])
