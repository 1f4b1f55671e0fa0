#!/usr/bin/env python3
"""Process tests of metrics, health and alerting with real nodes on loopback.

Usage: alerting.py PATH/TO/myceliumd [test names...]
"""
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

from harness import Node, cluster, free_port, main, run, wait_for

MEMBERSHIP = {"probe_interval_ms": 300, "probe_timeout_ms": 150, "suspicion_alpha": 2}


class Webhook:
    """An HTTP server on loopback that records every JSON POST."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/alerts"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        return r.read().decode()


def value(text, series):
    """The value of one exposed series (name with labels), or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def alerts(node):
    return node.console("--json", "alerts", expect=0)[3]["result"]


def find(doc, name, peer):
    for a in doc["alerts"]:
        if a["alertname"] == name and a["labels"].get("peer") == peer:
            return a
    return None


# Families a node exports from its start, before any event counted in them
# (a scrape must not depend on whether a peer was met or a notification sent).
FAMILIES = ["mycelium_transport_bytes_total", "mycelium_transport_frames_total",
            "mycelium_transport_rejections_total", "mycelium_security_events_total",
            "mycelium_transport_queue_full_drops_total", "mycelium_members", "mycelium_membership_probe_rtt_seconds",
            "mycelium_process_resident_memory_bytes", "mycelium_process_cpu_seconds_total",
            "mycelium_process_open_fds", "mycelium_data_dir_bytes", "mycelium_disk_free_bytes",
            "mycelium_component_running", "mycelium_alerts", "mycelium_gdb_entries",
            "mycelium_spores_known", "mycelium_spore_events_total",
            "mycelium_console_requests_total", "mycelium_alert_notifications_total"]


def test_a_lone_node_exports_its_families_from_the_start(binary, tmp, nodes):
    port = free_port()
    n = Node(binary, os.path.join(tmp, "n1"), name="n1", metrics={"listen": f"127.0.0.1:{port}"})
    nodes.append(n)
    n.start()
    n.wait_running()
    # Every component is up: the rest of the families must be there too.
    text = wait_for("every component running", lambda: (lambda t: t if all(
        value(t, f'mycelium_component_running{{component="node/{c}"}}') == 1
        for c in ("gdb", "spores", "alerting", "console")) else None)(scrape(port)))
    missing = [f for f in FAMILIES if f"# TYPE {f} " not in text]
    assert not missing, missing
    assert value(text, 'mycelium_spore_events_total{event="learned"}') == 0
    assert value(text, 'mycelium_alert_notifications_total{channel="log",result="failed"}') == 0
    assert value(text, 'mycelium_transport_rejections_total{reason="wrong_key"}') == 0
    assert value(text, 'mycelium_security_events_total{kind="bad_admin_key"}') == 0
    assert value(text, "mycelium_membership_probe_rtt_seconds_count") == 0


def test_metrics_endpoint_covers_the_node_and_passes_promtool(binary, tmp, nodes):
    ports = [free_port(), free_port()]
    # A rule that fires at once (gdb runs), routed to a JSON-lines file.
    journal = os.path.join(tmp, "alerts.jsonl")
    alerting = {
        "eval_interval_ms": 200,
        "channels": [{"name": "journal", "type": "file", "path": journal}],
        "rules": [{"name": "GdbRunning", "metric": "mycelium_component_running",
                   "match": {"component": "node/gdb"}, "condition": "==", "value": 1,
                   "severity": "info", "summary": "{{component}} runs"}],
        "route": {"channel": "journal", "group_by": ["alertname"], "group_wait_ms": 0},
    }
    a = Node(binary, os.path.join(tmp, "n1"), name="n1", membership=MEMBERSHIP,
             metrics={"listen": f"127.0.0.1:{ports[0]}"}, alerting=alerting)
    b = Node(binary, os.path.join(tmp, "n2"), name="n2", membership=MEMBERSHIP,
             metrics={"listen": f"127.0.0.1:{ports[1]}"})
    for n in (a, b):
        n.config["seeds"] = [a.address, b.address]
        n.write_config()
        nodes.append(n)
        n.start()
    for n in (a, b):
        n.wait_running()
    wait_for("n1 to see n2 alive and probe it", lambda: (
        lambda t: value(t, 'mycelium_member_up{peer="n2"}') == 1
        and (value(t, "mycelium_membership_probe_rtt_seconds_count") or 0) > 0)(scrape(ports[0])))
    # Supervision and security events show up in the counters.
    a.console("db", "put", "k", "v", expect=0)
    a.console("db", "put", "k", "1", "--type", "counter")  # type mismatch
    a.console("kill", "gdb", expect=0)
    console = os.path.join(os.path.dirname(binary), "mycelium")
    r = run([console, "--node", a.address, "--admin-key", os.path.join(a.root, "net.key"), "status"])
    assert r.returncode == 3, r
    wait_for("restart and security counters", lambda: (
        lambda t: (value(t, 'mycelium_supervision_restarts_total{component="node/gdb",reason="fault_injected: killed from the console"}')
                   or any(l.startswith('mycelium_supervision_restarts_total{component="node/gdb"') for l in t.splitlines()))
        and value(t, 'mycelium_security_events_total{kind="bad_admin_key"}') == 1)(scrape(ports[0])))
    text = scrape(ports[0])
    for family in FAMILIES + ["mycelium_transport_peer_connected", "mycelium_gdb_writes_total",
                              "mycelium_transport_queue_depth",
                              "mycelium_supervision_restarts_total"]:
        assert f"# TYPE {family} " in text, family
    assert value(text, 'mycelium_transport_peer_connected{peer="n2"}') == 1
    assert value(text, 'mycelium_members{state="alive"}') == 1
    assert value(text, "mycelium_membership_probe_rtt_seconds_count") > 0
    assert value(text, 'mycelium_gdb_writes_total{result="ok"}') == 1
    assert value(text, 'mycelium_gdb_writes_total{result="type_mismatch"}') == 1
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing (Debian package prometheus; tools/test installs it)"
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, (check.stdout, check.stderr)
    # The file channel got one JSON line per notification.
    lines = wait_for("a notification in the journal", lambda: os.path.exists(journal) and [
        json.loads(l) for l in open(journal).read().splitlines()])
    assert lines[0]["alerts"][0]["alertname"] == "GdbRunning", lines
    assert lines[0]["alerts"][0]["summary"] == "node/gdb runs", lines
    # The console shows the same, as text and as JSON; health has reasons.
    _, out, _, _ = a.console("metrics", expect=0)
    assert "# TYPE mycelium_members gauge" in out
    doc = a.console("--json", "metrics", expect=0)[3]["result"]
    assert any(s["name"] == "mycelium_members" for s in doc["samples"])
    # The health monitor folds the metrics in at its next sample.
    wait_for("health to name the security events", lambda: any(
        "security events" in r
        for r in a.console("--json", "health", expect=0)[3]["result"]["health"]["reasons"]))
    _, out, _, _ = a.console("health", expect=0)
    assert "health: degraded" in out and "security events" in out, out


def test_peer_killed_one_grouped_alert_follow_ons_inhibited(binary, tmp, nodes):
    hook = Webhook()
    try:
        escalations = os.path.join(tmp, "escalations.jsonl")
        alerting = {
            "eval_interval_ms": 200,
            "channels": [{"name": "hook", "type": "webhook", "url": hook.url},
                         {"name": "pager", "type": "command",
                          "command": ["sh", "-c", f"cat >> {escalations}"]}],
            "route": {"channel": "hook", "group_by": ["peer"], "group_wait_ms": 3000,
                      "group_interval_ms": 1000, "escalation_channel": "pager",
                      "escalate_after_ms": 500},
        }
        ns = cluster(binary, tmp, nodes, 3, membership=MEMBERSHIP)
        n1 = ns[0]
        n1.config["alerting"] = alerting
        n1.write_config()
        n1.signal(signal.SIGTERM)
        n1.wait_exit()
        n1.start()
        n1.wait_running()
        wait_for("n1 to reconnect", lambda: len(n1.peers()) == 2, timeout=20)
        doc = alerts(n1)
        assert doc["alerts"] == [], doc
        ns[2].signal(signal.SIGKILL)
        ns[2].wait_exit()
        # Membership declares n3 failed; the transport lost it at once.
        wait_for("a notification at the webhook", lambda: hook.received, timeout=30)
        doc = wait_for("PeerDisconnected about n3 firing and inhibited", lambda: (
            lambda d: d if (find(d, "PeerDisconnected", "n3") or {}).get("state") == "firing" else None)(alerts(n1)))
        follow_on = find(doc, "PeerDisconnected", "n3")
        assert follow_on["inhibited"], follow_on
        down = find(doc, "NodeDown", "n3")
        assert down and down["state"] == "firing" and not down["inhibited"], doc
        # Two group intervals after the follow-on fired, still one message.
        deadline = follow_on["fired_at_ms"] + 2000
        wait_for("two group intervals to pass on n1",
                 lambda: time.time() * 1000 > deadline + 500 and alerts(n1))
        assert len(hook.received) == 1, hook.received
        note = hook.received[0]
        assert note["node"] == "n1" and note["status"] == "firing"
        assert note["group_labels"] == {"peer": "n3"}, note
        assert [a["alertname"] for a in note["alerts"]] == ["NodeDown"], note
        assert "n3" in note["alerts"][0]["summary"]
        # The unacknowledged critical alert escalated to the second channel
        # (a command that gets the JSON on its standard input).
        wait_for("the escalation", lambda: os.path.exists(escalations) and open(escalations).read())
        lines = [json.loads(l) for l in open(escalations).read().splitlines()]
        assert len(lines) == 1 and lines[0]["escalation"], lines
        assert lines[0]["alerts"][0]["alertname"] == "NodeDown"
        # Ack and silence from the console, in table and JSON form.
        n1.console("ack", down["id"][:6], expect=0)
        _, out, _, _ = n1.console("silence", "peer=n9", "1h", "maintenance", expect=0)
        assert "silence s1" in out, out
        _, out, _, _ = n1.console("alerts", expect=0)
        assert "NodeDown" in out and "acked" in out and "inhibited" in out and "silence s1" in out, out
        rc, _, err, _ = n1.console("ack", "ffffffffffff")
        assert rc == 1 and "no alert" in err, err
        rc, _, err, _ = n1.console("silence", "peer", "1h")
        assert rc == 1 and "LABEL=VALUE" in err, err
        # Alert state survives a restart of the alerting actor and of the node.
        n1.console("kill", "alerting", expect=0)
        wait_for("alerting back with its state",
                 lambda: (lambda r: r == 0)(n1.console("alerts")[0]) and
                 (find(alerts(n1), "NodeDown", "n3") or {}).get("acked"))
        n1.signal(signal.SIGTERM)
        n1.wait_exit()
        n1.start()
        n1.wait_running()
        doc = alerts(n1)
        assert [s["id"] for s in doc["silences"]] == ["s1"], doc
        assert (find(doc, "NodeDown", "n3") or {}).get("acked"), doc
        assert len(hook.received) <= 2  # at most the resolution may follow
        for extra in hook.received[1:]:
            assert extra["status"] == "resolved", extra
    finally:
        hook.close()


if __name__ == "__main__":
    main([
        test_a_lone_node_exports_its_families_from_the_start,
        test_metrics_endpoint_covers_the_node_and_passes_promtool,
        test_peer_killed_one_grouped_alert_follow_ons_inhibited,
    ])
