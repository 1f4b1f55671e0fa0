#pragma once

/// Node configuration: one documented struct per subsystem, named profiles,
/// and a loader that refuses bad files with the file, the JSON path and what
/// was expected (STYLE.md rule 17).
///
/// A config file overrides the fields of a profile: `profile` selects
/// `defaults()` ("lan", the default) or `local()` (fast timings for loopback
/// clusters and tests), then every other key replaces one field. Unknown keys
/// are errors, so a typo never silently falls back to a default. Relative paths
/// are relative to the config file's folder. Loading never creates anything
/// on disk: it only checks that the data dir could be created or written and
/// that the key files exist and hold a key.

#include "mycelium/alerting/alert_core.hpp"
#include "mycelium/core/endpoint.hpp"
#include "mycelium/core/result.hpp"
#include "mycelium/isolation/isolation_core.hpp"
#include "mycelium/membership/config.hpp"
#include "mycelium/services/service_core.hpp"
#include "mycelium/transport/config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mycelium::config {

/// Config failures. Append-only: never renumber.
enum class errc : uint8_t {
  /// The file could not be read.
  unreadable = 1,
  /// The file is not valid JSON (message has line and column).
  syntax = 2,
  /// A value has the wrong JSON type.
  wrong_type = 3,
  /// A key the loader does not know (typo or a newer version's key).
  unknown_key = 4,
  /// A required key is absent.
  missing_key = 5,
  /// A value has the right type but is out of range or malformed.
  bad_value = 6,
  /// The data dir cannot be created or written.
  not_writable = 7,
  /// A key file named by the config is missing or holds no valid key.
  bad_key_file = 8,
};

/// Stable name of `code`, e.g. "unknown_key".
const char* to_string(errc code);

/// Shared with the cores that use them (core/endpoint.hpp,
/// <subsystem>/config.hpp): the names config code has always used.
using mycelium::endpoint;
using mycelium::parse_endpoint;
using transport_config = transport::transport_config;
using membership_config = membership::membership_config;

/// Logging: where and how much.
struct log_config {
  /// Lowest level written: trace, debug, info, warning or error.
  std::string level = "info";
  /// Log file path; empty writes to standard error.
  std::string file;
};

/// Supervision knobs shared by every supervisor of the node.
struct supervision_config {
  /// Restart intensity: at most `max_restarts` restarts ...
  int max_restarts = 5;
  /// ... within this sliding window, else the supervisor gives up and fails
  /// to its parent (OTP's intensity/period).
  int64_t restart_window_ms = 30000;
  /// Delay before the second restart of a child that keeps failing; the
  /// first restart after a quiet period is immediate, as in OTP.
  int64_t backoff_initial_ms = 100;
  /// Upper bound of the exponential backoff.
  int64_t backoff_max_ms = 10000;
  /// Each delay is multiplied by a random factor in [1 - j, 1 + j] so that
  /// children failing together do not restart in lockstep.
  double backoff_jitter = 0.2;
  /// A child that ran this long without failing starts over: its next
  /// restart is immediate again.
  int64_t backoff_reset_ms = 10000;
  /// How long a child may take to stop before it is killed.
  int64_t shutdown_timeout_ms = 5000;

  static supervision_config defaults() { return {}; }
  static supervision_config local();
};

/// Health monitor knobs.
struct health_config {
  /// How often process resources (RSS, CPU, fds, disk) are sampled.
  int64_t sample_interval_ms = 5000;
  /// Samples kept in the persisted history (oldest dropped first).
  int64_t history_max_samples = 2000;
  /// Supervision events kept in the persisted history.
  int64_t history_max_events = 1000;

  static health_config defaults() { return {}; }
  static health_config local();
};

/// SQLite store knobs.
struct store_config {
  /// How long a statement waits for a lock before failing with `busy`.
  int64_t busy_timeout_ms = 5000;

  static store_config defaults() { return {}; }
  static store_config local() { return {}; }
};

/// The spore tracker (memory of every node met; see spores/tracker_core).
struct spores_config {
  /// Activity granularity: a node seen alive in a slot was active in it.
  int64_t slot_ms = 60000;
  /// One spore sync exchange with a random live member per interval.
  int64_t sync_interval_ms = 2000;
  /// Buckets of the sync digest (more: bigger digests, smaller replies).
  int64_t buckets = 64;
  /// Nodes silent this long are forgotten (default 28 days).
  int64_t retention_ms = int64_t{28} * 86400000;
  /// Writes whose clocks fall in one window of this size are concurrent and
  /// settled by content, not by whose clock ran ahead.
  int64_t lww_tolerance_ms = 1000;
  /// A returning node's rejoin is decided after this at the latest.
  int64_t return_decision_ms = 10000;

  static spores_config defaults() { return {}; }
  static spores_config local();
};

/// The Global Database replica.
struct gdb_config {
  /// Keys and values larger than this are refused.
  int64_t max_key_bytes = 256;
  int64_t max_value_bytes = 65536;
  /// One Merkle anti-entropy exchange with a random live member per period
  /// (and at once when the spore tracker reports a return needing sync).
  int64_t anti_entropy_interval_ms = 10000;

  static gdb_config defaults() { return {}; }
  static gdb_config local();
};

/// The isolation controller (read-only mode of a node that lost the
/// network); the fields are documented in isolation_core.hpp.
struct isolation_config : isolation::settings {
  static isolation_config defaults() { return {}; }
  static isolation_config local();
};

/// Hosted services (see services/service_core.hpp).
struct services_config {
  /// Placement and split resolution run this often.
  int64_t tick_ms = 2000;
  /// After the node starts, no instance is started for this long: time
  /// to meet the network and receive its records (a start before would
  /// only make a split to resolve).
  int64_t settle_ms = 10000;
  /// The services of the network (every node should list the same).
  std::vector<services::service_spec> hosted;

  static services_config defaults() { return {}; }
  static services_config local();
};

/// The Prometheus endpoint.
struct metrics_config {
  /// "host:port" serving GET /metrics over HTTP; empty: no endpoint.
  std::string listen;
};

/// Where notifications go.
struct channel_config {
  std::string name;
  /// log, file (JSON lines), command (JSON on stdin), webhook (HTTP POST).
  std::string type = "log";
  /// file: absolute path; webhook: http://host:port/path.
  std::string target;
  /// command: program and arguments.
  std::vector<std::string> command;
  int64_t timeout_ms = 5000;
};

/// Alert rules, routing and channels (see alerting/alert_core.hpp).
struct alerting_section {
  /// Rules are evaluated against the metrics this often.
  int64_t eval_interval_ms = 5000;
  /// Always contains "log"; config adds more.
  std::vector<channel_config> channels;
  alerting::alerting_config rules;

  /// Built-in rules: NodeDown, PeerDisconnected, ComponentDown, DiskSpaceLow,
  /// StoreWriteFailing, SecurityEvents; NodeDown inhibits the non-critical
  /// alerts of its peer.
  static alerting_section defaults();
  static alerting_section local();
};

/// Everything a node reads from its config file.
struct node_config {
  /// Absolute path of the file this was loaded from.
  std::string file;
  /// Node name shown in logs and the console (letters, digits, '-', '_', '.').
  std::string name;
  /// Where the node listens for peers and the console.
  endpoint listen;
  /// Absolute path of the data dir (database, identity, chunks).
  std::string data_dir;
  /// Peers contacted at start.
  std::vector<endpoint> seeds;
  /// Name shared by all nodes of one network.
  std::string network_id;
  /// Absolute paths of isolation key files; the first is used for outgoing
  /// connections, all are accepted (key rotation).
  std::vector<std::string> isolation_keys;
  /// Hex contents of `isolation_keys`, same order.
  std::vector<std::string> isolation_key_hex;
  /// Absolute path of the admin key file (empty: console disabled).
  std::string admin_key;
  /// Hex contents of `admin_key`.
  std::string admin_key_hex;
  /// Allows the console's kill and fault commands (tests only).
  bool allow_fault_injection = false;
  /// "lan" (default) or "local".
  std::string profile = "lan";
  log_config log;
  supervision_config supervision;
  health_config health;
  store_config store;
  transport_config transport;
  membership_config membership;
  spores_config spores;
  gdb_config gdb;
  isolation_config isolation;
  services_config services;
  metrics_config metrics;
  alerting_section alerting = alerting_section::defaults();
};

/// Reads and validates the config at `path`.
result<node_config> load(const std::string& path);

/// Validates `text` as if read from `path` (relative paths resolve against
/// `path`'s folder).
result<node_config> parse(const std::string& text, const std::string& path);

} // namespace mycelium::config
