"""Shared helpers for process tests: real myceliumd processes on loopback,
or each in a network namespace of its own (`Lab`).

Every test gets a fresh temporary folder with a key file and a config. Ports
are picked free at run time; waits poll a condition until a deadline (never a
fixed sleep); every started process is stopped when the test ends, also when
it fails, and every namespace and link a test made is removed.
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback


class Skipped(Exception):
    """A test that cannot run on this machine (no root, no namespaces): it
    is reported as skipped, never counted as passed."""

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
    """One myceliumd process with its own folder, config and data dir; in
    the network namespace `netns` when a `Lab` placed it there."""

    def __init__(self, binary, root, name="n1", **overrides):
        self.binary = binary
        self.root = root
        self.name = name
        self.proc = None
        self.netns = None
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

    def inside(self, argv):
        """`argv` run in this node's namespace (as is without one)."""
        return (["ip", "netns", "exec", self.netns] if self.netns else []) + argv

    def start(self):
        # `ip netns exec` execs the program: the pid is myceliumd's.
        self.proc = subprocess.Popen(
            self.inside([self.binary, "--config", self.config_path]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
        r = subprocess.run(self.inside([console, "--config", self.config_path] + list(args)),
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


class Faults:
    """Partitions made by the transport's fault injection: frames are
    dropped after the handshake, new connections still get through."""
    name = "faults"

    def place(self, node):
        pass

    def partition(self, side_a, side_b):
        for a in side_a:
            for b in side_b:
                a.console("fault", "partition", b.name, expect=0)
                b.console("fault", "partition", a.name, expect=0)

    def heal(self, nodes):
        for n in nodes:
            n.console("fault", "clear", expect=0)


def _run_ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


_labs = []
_NS_PREFIX = "mycns"


def _reap_stale_labs():
    """Removes namespaces and bridges of earlier runs whose process is gone
    (a test killed before its cleanup)."""
    owners = set()
    for line in _run_ip("netns", "list", check=False).stdout.splitlines():
        m = re.match(rf"({_NS_PREFIX}(\d+)-\d+)", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            _run_ip("netns", "del", m.group(1), check=False)
            owners.add(m.group(2))
    for line in _run_ip("-o", "link", "show", "type", "bridge", check=False).stdout.splitlines():
        m = re.search(r"\d+: (mycbr(\d+))[:@]", line)
        if m and not os.path.exists(f"/proc/{m.group(2)}"):
            _run_ip("link", "del", m.group(1), check=False)


class Lab:
    """Every node in a network namespace of its own, all on one bridge, as
    if each ran on its own host (10.213.0.0/24 inside the namespaces; the
    test's own namespaces are the only place traffic goes). Links are cut
    with kernel routes, in one of three ways:

      refused  a `prohibit` route on both sides: connects fail at once
               (EACCES), as behind a firewall that rejects;
      silent   each side routes the other's address to a MAC no port has:
               the bridge floods the frames and every node drops them, so
               nothing is refused and nothing comes back (a cut cable, a
               firewall that drops);
      oneway   the silent cut from the first side to the second only.

    `Skipped` when namespaces cannot be made here (not root, no netns)."""
    SUBNET = "10.213.0"
    NOWHERE = "10.213.0.250"      # the gateway of silent cuts: no such port
    NOWHERE_MAC = "02:00:00:00:00:fe"

    def __init__(self, cut="silent"):
        assert cut in ("refused", "silent", "oneway"), cut
        self.name = f"netns-{cut}"
        self.cut = cut
        self.pid = os.getpid()
        self.bridge = f"mycbr{self.pid}"
        self.namespaces = []
        self.veths = []
        self.routes = []   # (namespace, route args) added by cuts
        if os.geteuid() != 0:
            raise Skipped("network namespaces need root")
        if shutil.which("ip") is None:
            raise Skipped("no 'ip' command (Debian package iproute2)")
        _reap_stale_labs()
        r = _run_ip("link", "add", self.bridge, "type", "bridge", check=False)
        if r.returncode != 0:
            raise Skipped(f"cannot create a bridge: {r.stderr.strip()}")
        _labs.append(self)
        _run_ip("link", "set", self.bridge, "up")

    def place(self, node):
        """Puts `node` in a new namespace on the bridge; its listen address
        becomes the namespace's own."""
        self.host(node)
        node.config["listen"] = f"{node.ip}:{node.port}"
        node.write_config()

    def host(self, proc):
        """Gives `proc` (anything run through `ip netns exec proc.netns`) a
        new namespace on the bridge: sets proc.netns and proc.ip."""
        i = len(self.namespaces) + 1
        ns = f"{_NS_PREFIX}{self.pid}-{i}"
        r = _run_ip("netns", "add", ns, check=False)
        if r.returncode != 0:
            raise Skipped(f"cannot create a network namespace: {r.stderr.strip()}")
        self.namespaces.append(ns)
        veth = f"mycv{self.pid}-{i}"[:15]
        _run_ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.veths.append(veth)
        _run_ip("link", "set", veth, "master", self.bridge, "up")
        _run_ip("-n", ns, "addr", "add", f"{self.SUBNET}.{i}/24", "dev", "eth0")
        _run_ip("-n", ns, "link", "set", "eth0", "up")
        _run_ip("-n", ns, "link", "set", "lo", "up")
        _run_ip("-n", ns, "neigh", "replace", self.NOWHERE, "lladdr", self.NOWHERE_MAC,
                "dev", "eth0", "nud", "permanent")
        proc.netns = ns
        proc.ip = f"{self.SUBNET}.{i}"

    def _route(self, node, *args):
        _run_ip("-n", node.netns, "route", "replace", *args)
        self.routes.append((node.netns, args))

    def cut_link(self, a, b, how=None):
        how = how or self.cut
        if how == "refused":
            self._route(a, "prohibit", f"{b.ip}/32")
            self._route(b, "prohibit", f"{a.ip}/32")
        else:
            self._route(a, f"{b.ip}/32", "via", self.NOWHERE, "dev", "eth0", "onlink")
            if how == "silent":
                self._route(b, f"{a.ip}/32", "via", self.NOWHERE, "dev", "eth0", "onlink")

    def partition(self, side_a, side_b, how=None):
        for a in side_a:
            for b in side_b:
                self.cut_link(a, b, how)

    def heal(self, nodes=None):
        for ns, args in reversed(self.routes):
            _run_ip("-n", ns, "route", "del", *args, check=False)
        self.routes = []

    def close(self):
        # The host side first: deleting it is synchronous, while a deleted
        # namespace takes its links down in the background.
        for veth in self.veths:
            _run_ip("link", "del", veth, check=False)
        self.veths = []
        for ns in self.namespaces:
            _run_ip("netns", "del", ns, check=False)
        self.namespaces = []
        _run_ip("link", "del", self.bridge, check=False)
        if self in _labs:
            _labs.remove(self)


def _close_labs():
    for lab in list(_labs):
        lab.close()


atexit.register(_close_labs)


def cluster(binary, tmp, nodes, count, net=None, **overrides):
    """Starts `count` nodes that seed each other (each placed by `net`, a
    `Lab` or `Faults`); waits until all are connected to all."""
    members = [Node(binary, os.path.join(tmp, f"n{i + 1}"), name=f"n{i + 1}", **overrides)
               for i in range(count)]
    for m in members:
        if net is not None:
            net.place(m)
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


def over(test, *nets):
    """Variants of `test(binary, tmp, nodes, net)`, one per network maker in
    `nets` (Faults, or a lambda making a Lab), named test[net]."""
    variants = []
    for make in nets:
        label = make().name if make is Faults else make.label

        def variant(binary, tmp, nodes, make=make):
            return test(binary, tmp, nodes, make())
        variant.__name__ = f"{test.__name__}[{label}]"
        variants.append(variant)
    return variants


def lab(cut):
    """A maker of `Lab(cut)` for `over`."""
    make = lambda: Lab(cut)
    make.label = f"netns-{cut}"
    return make


def main(tests, netns_tests=()):
    """Runs `tests` (functions taking (binary, tmpdir, nodes)), or with
    --netns the ones over network namespaces, and prints "tests: P passed,
    F failed, S skipped". Exits 1 on a failure, else 77 (meson's "skipped")
    when any test was skipped, else 0."""
    binary = os.path.abspath(sys.argv[1])
    only = sys.argv[2:]
    if "--netns" in only:
        only.remove("--netns")
        tests = netns_tests
    # meson stops a test that runs too long with SIGTERM: clean up then too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    passed = failed = skipped = 0
    for test in tests:
        if only and test.__name__ not in only:
            continue
        nodes = []
        with tempfile.TemporaryDirectory(prefix="mycelium-proc-") as tmp:
            try:
                test(binary, tmp, nodes)
                passed += 1
                print(f"ok    {test.__name__}", flush=True)
            except Skipped as why:
                skipped += 1
                print(f"skip  {test.__name__} ({why})", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL  {test.__name__}", flush=True)
                traceback.print_exc()
                for n in nodes:
                    print(f"--- log of {n.name} ---\n{n.log()}", flush=True)
            finally:
                for n in nodes:
                    n.stop()
                _close_labs()
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else 77 if skipped else 0)
