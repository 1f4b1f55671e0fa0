#include "mycelium/actors/health_monitor.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/store_failures.hpp"
#include "mycelium/health/health_store.hpp"
#include "mycelium/health/resources.hpp"
#include "mycelium/health/status_json.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/system/log.hpp"

#include <caf/all.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <unistd.h>

namespace mycelium::actors {

namespace {

struct health_state {
  static constexpr const char* name = "health";

  node_context_ptr ctx;
  std::unique_ptr<health::monitor_core> core;
  std::optional<health::health_store> store;
  /// Last event of the root's log already applied and persisted.
  health::event_cursor cursor;
  /// The membership actor we subscribed to (resubscribe when it changes).
  caf::actor membership;
  /// A status file rewrite is scheduled (flush_atom in flight).
  bool status_pending = false;
  store_failures failures{"health"};
  store_failures status_failures{"health-status"};
};

using self_ptr = caf::stateful_actor<health_state>*;

std::string render(self_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  health::node_identity id{
      cfg.name,     cfg.listen.to_string(),           cfg.network_id,
      st.ctx->boot, static_cast<int64_t>(::getpid()), st.ctx->started_ms};
  return health::render_status(id, *st.core, st.ctx->wall_clock());
}

void write_status(self_ptr self) {
  auto path = status_file_path(self->state.ctx->cfg.data_dir);
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << render(self) << '\n';
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      self->state.status_failures.record(*self->state.ctx, "the status file",
                                         "cannot write " + tmp);
      return;
    }
  }
  auto replaced = std::rename(tmp.c_str(), path.c_str()) == 0;
  self->state.status_failures.record(*self->state.ctx, "the status file",
                                     replaced ? "" : "cannot replace " + path);
}

/// The component's gauge: 1 while running.
void count_component(self_ptr self, const health::component_status& c) {
  self->state.ctx->metrics
      ->get_gauge("mycelium_component_running",
                  "1 while the supervised component runs.",
                  {{"component", c.path}})
      .set(c.state == "running" ? 1 : 0);
}

/// Applies and persists one event unless it was applied before.
void apply(self_ptr self, const std::string& boot,
           const health::supervision_event& ev) {
  auto& st = self->state;
  if (boot == st.cursor.boot && ev.seq <= st.cursor.seq)
    return;
  auto& changed = st.core->on_event(ev);
  count_component(self, changed);
  if (ev.kind == "restarted" || ev.kind == "failed")
    st.ctx->metrics
        ->get_counter(
            "mycelium_supervision_restarts_total",
            "Restarts (and give-ups) of supervised components, by "
            "component and exit reason.",
            {{"component", ev.component}, {"reason", ev.reason.substr(0, 80)}})
        .inc();
  // Unsaved (full disk), the event still counts in memory; a restart of
  // this actor replays it from the root's log, which keeps the whole boot.
  auto saved =
      st.store->apply(boot, ev, changed, st.ctx->cfg.health.history_max_events);
  st.failures.record(*st.ctx, "a supervision event",
                     saved ? "" : saved.err().to_string());
  st.cursor = {boot, ev.seq};
}

/// Process resources as metrics.
void export_resources(self_ptr self, const health::resource_sample& s) {
  auto& st = self->state;
  auto& m = *st.ctx->metrics;
  m.get_gauge("mycelium_process_resident_memory_bytes",
              "Resident set size of the node process.")
      .set(static_cast<double>(s.rss_bytes));
  auto& cpu = m.get_counter("mycelium_process_cpu_seconds_total",
                            "User and system CPU time (whole seconds).");
  auto whole = static_cast<uint64_t>(s.cpu_seconds);
  if (whole > cpu.value())
    cpu.inc(whole - cpu.value());
  m.get_gauge("mycelium_process_open_fds", "Open file descriptors.")
      .set(static_cast<double>(s.open_fds));
  m.get_gauge("mycelium_data_dir_bytes", "Bytes used by the data dir.")
      .set(static_cast<double>(s.data_dir_bytes));
  m.get_gauge("mycelium_disk_free_bytes",
              "Free bytes on the data dir's file system.")
      .set(static_cast<double>(s.disk_free_bytes));
  m.get_gauge("mycelium_disk_total_bytes",
              "Size of the data dir's file system.")
      .set(static_cast<double>(s.disk_total_bytes));
  if (s.disk_total_bytes > 0) {
    auto ratio = static_cast<double>(s.disk_free_bytes) /
                 static_cast<double>(s.disk_total_bytes);
    m.get_gauge("mycelium_disk_free_ratio",
                "Free fraction of the data dir's file system.")
        .set(ratio);
    self->state.ctx->resources->set_disk_free_ratio(ratio);
  }
}

/// Connectivity, security and performance as the metrics tell them.
health::signals read_signals(self_ptr self) {
  health::signals sig;
  sig.time = self->state.ctx->wall_clock();
  for (auto& s : self->state.ctx->metrics->samples()) {
    if (s.name == "mycelium_transport_peers")
      sig.connected_peers = static_cast<int64_t>(s.value);
    else if (s.name == "mycelium_members" &&
             (metrics::labels_match(s.labels, {{"state", "alive"}}) ||
              metrics::labels_match(s.labels, {{"state", "suspect"}})))
      sig.live_members += static_cast<int64_t>(s.value);
    else if (s.name == "mycelium_security_events_total")
      sig.security_events += static_cast<uint64_t>(s.value);
    else if (s.name == "mycelium_membership_probe_rtt_seconds_count")
      sig.probes = static_cast<uint64_t>(s.value);
    else if (s.name == "mycelium_membership_probe_rtt_seconds_sum")
      sig.probe_rtt_sum_s = s.value;
  }
  return sig;
}

void sample(self_ptr self) {
  auto& st = self->state;
  follow(self, self->state.membership, "membership");
  auto s = health::sample_resources(st.ctx->cfg.data_dir, st.ctx->wall_clock());
  st.core->on_sample(s);
  export_resources(self, s);
  st.core->on_signals(read_signals(self));
  auto saved = st.store->add_sample(s, st.ctx->cfg.health.history_max_samples);
  st.failures.record(*st.ctx, "a resource sample",
                     saved ? "" : saved.err().to_string());
  write_status(self);
}

caf::behavior health_impl(self_ptr self, node_context_ptr ctx,
                          caf::actor root) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  st.core = std::make_unique<health::monitor_core>(
      static_cast<size_t>(ctx->cfg.health.history_max_samples));
  // Reload everything persisted before the first message is handled.
  auto store = health::health_store::open(ctx->db);
  if (!started_ok(self, store))
    return {};
  st.store = std::move(*store);
  auto cursor = st.store->load(*st.core);
  if (!started_ok(self, cursor))
    return {};
  st.cursor = *cursor;
  // No component gauges from the stored states: after a node restart they
  // describe the previous boot (all "stopped"), and exporting them would
  // read as every component down until this boot's events arrive. The
  // replay below sets each gauge from this boot's events.
  log::debug("health",
             "restored " + std::to_string(st.core->components().size()) +
                 " components, " + std::to_string(st.core->samples().size()) +
                 " samples, event cursor " + st.cursor.boot + "#" +
                 std::to_string(st.cursor.seq));
  self->request(root, std::chrono::seconds(10), subscribe_atom::value,
                st.cursor.boot, st.cursor.seq)
      .then(
          [=](event_batch& batch) {
            for (auto& ev : batch.events)
              apply(self, batch.boot, ev);
            write_status(self);
          },
          [=](caf::error& err) { self->quit(err); });
  auto interval = std::chrono::milliseconds(ctx->cfg.health.sample_interval_ms);
  self->send(self, sample_atom::value);
  return {
      [=](event_atom, const health::supervision_event& ev) {
        apply(self, self->state.ctx->boot, ev);
        write_status(self);
      },
      [=](sample_atom) {
        sample(self);
        self->delayed_send(self, interval, sample_atom::value);
      },
      [=](member_atom, const membership::event& ev) {
        self->state.core->on_member(ev.member.id, ev.member.name,
                                    membership::to_string(ev.member.st));
        // A join storm brings one event per member: rewrite the status file
        // once per burst, not once per event.
        if (!self->state.status_pending) {
          self->state.status_pending = true;
          self->delayed_send(self, std::chrono::milliseconds(100),
                             flush_atom::value);
        }
      },
      [=](flush_atom) {
        self->state.status_pending = false;
        write_status(self);
      },
      [=](status_atom) { return render(self); },
  };
}

} // namespace

std::string status_file_path(const std::string& data_dir) {
  return data_dir + "/status.json";
}

child_spec health_monitor_child(node_context_ptr ctx) {
  // The monitor subscribes to the supervisor that starts it (the root).
  child_spec spec;
  spec.id = "health";
  spec.start = [ctx](caf::event_based_actor* sup) {
    return sup->spawn<caf::linked>(health_impl, ctx,
                                   caf::actor_cast<caf::actor>(sup));
  };
  return spec;
}

} // namespace mycelium::actors
