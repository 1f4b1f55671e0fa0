"""Shared helpers for process tests: real myceliumd processes on loopback.

Every test gets a fresh temporary folder with a key file and a config. Ports
are picked free at run time; waits poll a condition until a deadline (never a
fixed sleep); every started process is stopped when the test ends, also when
it fails.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
KEY2_HEX = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
ADMIN_HEX = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
BUILD = None  # set by main(): folder of the built binaries


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=15.0, interval=0.05):
    """Polls `predicate` until it returns a truthy value or the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Node:
    """One myceliumd process with its own folder, config and data dir."""

    def __init__(self, binary, root, name="n1", **overrides):
        self.binary = binary
        self.root = root
        self.name = name
        self.proc = None
        os.makedirs(root, exist_ok=True)
        for key_file, hex_key in [("net.key", KEY_HEX), ("net2.key", KEY2_HEX), ("admin.key", ADMIN_HEX)]:
            with open(os.path.join(root, key_file), "w") as f:
                f.write(hex_key + "\n")
        self.port = free_port()
        self.config = {
            "name": name,
            "profile": "local",
            "listen": f"127.0.0.1:{self.port}",
            "data_dir": "data",
            "network_id": "proc-test",
            "isolation_keys": ["net.key"],
            "admin_key": "admin.key",
            "allow_fault_injection": True,
            "log": {"level": "info", "file": "node.log"},
        }
        self.config.update(overrides)
        self.write_config()

    @property
    def config_path(self):
        return os.path.join(self.root, "node.json")

    @property
    def data_dir(self):
        return os.path.join(self.root, "data")

    @property
    def log_path(self):
        return os.path.join(self.root, "node.log")

    def write_config(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config_path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def status(self):
        """The node's published status, or None when not (yet) running."""
        r = subprocess.run([self.binary, "--status", "--json", "--config", self.config_path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        doc = json.loads(r.stdout)
        if self.proc is not None and doc.get("pid") != self.proc.pid:
            return None  # a previous incarnation's file
        return doc

    def component(self, path="node/health"):
        st = self.status()
        if not st:
            return None
        for c in st.get("components", []):
            if c["path"] == path:
                return c
        return None

    def wait_running(self, timeout=15.0):
        return wait_for(f"{self.name} to run",
                        lambda: (self.component() or {}).get("state") == "running" and self.status(),
                        timeout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=15.0):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s")

    def stop(self):
        """Stops the process whatever its state (used on cleanup)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def address(self):
        return self.config["listen"]

    def console(self, *args, expect=None, timeout=10):
        """Runs the console against this node; returns (exit code, stdout,
        stderr, parsed JSON when --json was given)."""
        console = os.path.join(os.path.dirname(self.binary), "mycelium")
        r = subprocess.run([console, "--config", self.config_path] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        doc = None
        if "--json" in args and r.stdout.strip():
            doc = json.loads(r.stdout)
        if expect is not None:
            assert r.returncode == expect, (args, r.returncode, r.stdout, r.stderr)
        return r.returncode, r.stdout, r.stderr, doc

    def peers(self):
        """Established peers as {name: node_id}."""
        rc, _, _, doc = self.console("--json", "peers")
        if rc != 0:
            return {}
        return {c["name"]: c["node_id"] for c in doc["result"]["connections"]
                if c["phase"] == "established"}

    def rejections(self):
        rc, _, _, doc = self.console("--json", "peers")
        return doc["result"]["rejections"] if rc == 0 else {}

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:
            return ""


def running_node(binary, root, nodes, **overrides):
    """One node started (and registered for cleanup in `nodes`), once it
    runs."""
    n = Node(binary, root, **overrides)
    nodes.append(n)
    n.start()
    n.wait_running()
    return n


def cluster(binary, tmp, nodes, count, **overrides):
    """Starts `count` nodes that seed each other; waits until all are
    connected to all."""
    members = [Node(binary, os.path.join(tmp, f"n{i + 1}"), name=f"n{i + 1}", **overrides)
               for i in range(count)]
    seeds = [m.address for m in members]
    for m in members:
        m.config["seeds"] = seeds
        m.write_config()
        nodes.append(m)
        m.start()
    for m in members:
        m.wait_running()
    for m in members:
        wait_for(f"{m.name} to connect to all", lambda: len(m.peers()) == count - 1, timeout=20)
    return members


def run(binary_args, **kw):
    return subprocess.run(binary_args, capture_output=True, text=True, **kw)


def main(tests):
    """Runs `tests` (functions taking (binary, tmpdir, nodes)) and prints
    "tests: P passed, F failed"."""
    binary = os.path.abspath(sys.argv[1])
    only = sys.argv[2:]
    passed = failed = 0
    for test in tests:
        if only and test.__name__ not in only:
            continue
        nodes = []
        with tempfile.TemporaryDirectory(prefix="mycelium-proc-") as tmp:
            try:
                test(binary, tmp, nodes)
                passed += 1
                print(f"ok    {test.__name__}", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL  {test.__name__}", flush=True)
                traceback.print_exc()
                for n in nodes:
                    print(f"--- log of {n.name} ---\n{n.log()}", flush=True)
            finally:
                for n in nodes:
                    n.stop()
    print(f"tests: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
