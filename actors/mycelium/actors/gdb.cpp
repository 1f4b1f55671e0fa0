#include "mycelium/actors/gdb.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/store_failures.hpp"
#include "mycelium/actors/worker_child.hpp"
#include "mycelium/core/fnv.hpp"
#include "mycelium/gdb/replica_core.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/store/state_store.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/wire/hello.hpp"

#include <caf/all.hpp>

#include <map>
#include <optional>
#include <set>

namespace mycelium::actors {

namespace {

using gdb::replica_core;

struct gdb_state {
  static constexpr const char* name = "gdb";
  node_context_ptr ctx;
  std::unique_ptr<replica_core> core;
  std::optional<store::state_store> store;
  caf::actor membership;
  caf::actor spores;
  caf::actor isolation;
  /// Whether the isolation controller told its mode since this actor (or
  /// the controller) started. Until it has, writes are refused: a node
  /// restarted while cut off must not take one before it knows it is
  /// isolated.
  bool mode_known = false;
  uint64_t bad_frames = 0;
  uint64_t writes = 0;
  store_failures failures{"gdb"};
  metrics::counter* persisted = nullptr;
  metrics::gauge* entries = nullptr;
};

using self_ptr = caf::stateful_actor<gdb_state>*;

/// Counts one console write by result ("ok" or the refusal's code).
void count_write(self_ptr self, const std::string& result) {
  self->state.ctx->metrics
      ->get_counter("mycelium_gdb_writes_total",
                    "Global Database writes (put, del) by result.",
                    {{"result", result}})
      .inc();
}

/// A refused write: counted by cause, answered with our error code.
caf::error refused(self_ptr self, const error& e) {
  auto code = static_cast<gdb::gdb_errc>(e.code());
  static const char* const causes[] = {
      "",          "bad_key",   "type_mismatch", "too_large",
      "read_only", "bad_value", "not_found"};
  auto i = static_cast<size_t>(code);
  count_write(self, i < 7 ? causes[i] : "refused");
  return make_error(code == gdb::gdb_errc::read_only   ? errc::read_only
                    : code == gdb::gdb_errc::not_found ? errc::not_found
                                                       : errc::bad_request,
                    std::string{e.message()});
}

/// Performs the core's effects: persists the rows of the changed entries
/// (one transaction), then sends (the commit). When the store refuses them
/// (full disk) the core aborts the step (its keys get back what they held,
/// which is what is stored), nothing goes out, and the returned error names
/// the cause: a local write is refused with it, a merge from a peer comes
/// again with anti-entropy. The actor keeps serving (a restart would fail
/// the same way).
caf::error perform(self_ptr self, const gdb::replica_effects& fx) {
  auto& st = self->state;
  if (!fx.rows.empty()) {
    auto saved = st.store->save_many("gdb", fx.rows);
    if (!st.failures.record(*st.ctx, "gdb entries",
                            saved ? "" : saved.err().to_string())) {
      st.core->abort(fx);
      return make_error(errc::store_failed, "not applied, cannot persist: " +
                                                saved.err().to_string());
    }
    st.persisted->inc(fx.rows.size());
    st.entries->set(static_cast<double>(st.core->db().map().entries.size()));
  }
  auto transport = registered(self->home_system(), "transport");
  if (!transport)
    return {};
  for (auto& [node, msg] : fx.sends)
    self->send(transport, send_atom::value, node,
               static_cast<uint16_t>(wire::kind::gdb), gdb::encode(msg));
  return {};
}

std::string render_stats(self_ptr self) {
  auto& st = self->state;
  size_t keys = 0;
  size_t bytes = 0;
  auto& db = st.core->db();
  // Digest of the stored form of every entry: equal digests mean
  // byte-identical replicas.
  fnv1a digest;
  for (auto& [k, e] : db.map().entries) {
    keys += !e.presence.empty();
    auto stored = gdb::encode_entry(k, e);
    bytes += k.size() + stored.size();
    digest.add(stored);
  }
  // Every node reconciled with, live or not, and every live peer.
  json peers = json::object();
  auto label = [&](const std::string& id) {
    auto p = st.core->peers().find(id);
    return p != st.core->peers().end() && !p->second.name.empty()
               ? p->second.name
               : id.substr(0, 8);
  };
  for (auto& [id, p] : st.core->peers())
    peers[label(id)] = 0;
  for (auto& [id, ms] : st.core->reconciled())
    peers[label(id)] = ms;
  return json{{"keys", keys},
              {"entries", db.map().entries.size()},
              {"bytes", bytes},
              {"digest", digest.value()},
              {"peers", st.core->peers().size()},
              {"read_only", db.read_only() || !db.isolated().empty()},
              {"isolated", !db.isolated().empty()},
              {"writes_since_start", st.writes},
              {"bad_frames", st.bad_frames},
              {"last_reconciliation_ms", peers}}
      .dump();
}

/// Performs a local write the core prepared (or refused), persisted before
/// it returns; the error is the refusal, counted by cause.
caf::error write(self_ptr self, const result<gdb::replica_effects>& fx) {
  if (!fx)
    return refused(self, fx.err());
  // Persisted before the caller hears "ok".
  if (auto err = perform(self, *fx)) {
    count_write(self, "store_failed");
    return err;
  }
  ++self->state.writes;
  count_write(self, "ok");
  return {};
}

caf::error write_put(self_ptr self, const std::string& key,
                     const std::string& value, gdb::crdt_value::type kind) {
  auto& st = self->state;
  return write(self, st.core->put(key, value, kind, st.ctx->wall_clock()));
}

caf::error write_del(self_ptr self, const std::string& key) {
  return write(self, self->state.core->del(key));
}

/// Every key under `prefix`, split by whether its value is one text.
gdb_rows scan(self_ptr self, const std::string& prefix) {
  gdb_rows rows;
  auto& db = self->state.core->db();
  for (auto& key : db.list(prefix)) {
    auto v = db.get(key);
    if (!v)
      continue;
    if (v->kind == gdb::crdt_value::type::lww && !v->values.empty())
      rows.texts.emplace_back(key, v->values.front());
    else
      rows.others.emplace_back(key, gdb::to_string(v->kind));
  }
  return rows;
}

caf::result<std::string> command(self_ptr self, const std::string& args_json) {
  auto& st = self->state;
  auto a = command_words(args_json);
  if (a.empty())
    return make_error(errc::bad_request, "db needs a subcommand");
  auto& sub = a[0];
  if (sub == "put" && (a.size() == 3 || a.size() == 4)) {
    auto kind = gdb::crdt_value::type::lww;
    if (a.size() == 4) {
      auto t = gdb::parse_type(a[3]);
      if (!t)
        return refused(self, t.err());
      kind = *t;
    }
    if (auto err = write_put(self, a[1], a[2], kind))
      return err;
    return json{{"key", a[1]}, {"type", gdb::to_string(kind)}, {"ok", true}}
        .dump();
  }
  if (sub == "del" && a.size() == 2) {
    if (auto err = write_del(self, a[1]))
      return err;
    return json{{"key", a[1]}, {"deleted", true}}.dump();
  }
  if (sub == "get" && a.size() == 2) {
    auto v = st.core->db().get(a[1]);
    if (!v)
      return make_error(errc::not_found, "no key '" + a[1] + "'");
    json doc{{"key", a[1]},
             {"type", gdb::to_string(v->kind)},
             {"values", v->values}};
    if (v->kind == gdb::crdt_value::type::counter)
      doc["value"] = v->counter;
    else if (v->kind == gdb::crdt_value::type::lww)
      doc["value"] = v->values.front();
    return doc.dump();
  }
  if (sub == "list" && a.size() <= 2)
    return json{{"keys", st.core->db().list(a.size() == 2 ? a[1] : "")}}.dump();
  if (sub == "stats" && a.size() == 1)
    return render_stats(self);
  if (sub == "read-only" && a.size() == 2 && (a[1] == "on" || a[1] == "off")) {
    st.core->db().set_read_only(a[1] == "on");
    log::warning("gdb", std::string{"read-only mode "} + a[1]);
    return json{{"read_only", st.core->db().read_only()}}.dump();
  }
  return make_error(errc::bad_request,
                    "usage: db put KEY VALUE [lww|mv|counter|set] | get KEY | "
                    "del KEY | list [PREFIX] | stats | read-only on|off");
}

/// Why writes are refused until the isolation controller told its mode.
constexpr const char* mode_unknown =
    "the node does not know yet whether it is isolated (waiting for the "
    "isolation controller)";

/// Subscribes to the isolation controller (again after its restart) and
/// watches it, so its death puts writes on hold until its successor tells.
void follow_isolation(self_ptr self) {
  auto& st = self->state;
  auto before = st.isolation;
  follow(self, st.isolation, "isolation");
  if (st.isolation && st.isolation != before)
    self->monitor(st.isolation);
}

caf::behavior gdb_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  auto store = store::state_store::open(ctx->db);
  if (!started_ok(self, store))
    return {};
  st.store = std::move(*store);
  gdb::limits lim;
  lim.max_key_bytes = static_cast<size_t>(ctx->cfg.gdb.max_key_bytes);
  lim.max_value_bytes = static_cast<size_t>(ctx->cfg.gdb.max_value_bytes);
  st.core = std::make_unique<replica_core>(
      ctx->identity->node_id(), lim,
      static_cast<uint64_t>(ctx->wall_clock()) ^ 0x6db);
  auto rows = st.store->load_all("gdb");
  if (!started_ok(self, rows))
    return {};
  for (auto& [key, e] : *rows) {
    auto entry = gdb::decode_entry(e.value);
    if (!entry) {
      // A row that does not decode is corruption: refuse to start rather
      // than serve (and spread) a database with a hole in it.
      self->quit(make_error(errc::store_failed,
                            "stored entry '" + key +
                                "' is damaged: " + entry.err().to_string()));
      return {};
    }
    st.core->db().apply(entry->first, entry->second);
  }
  log::info("gdb", "starting with " + std::to_string(rows->size()) +
                       " stored entries");
  st.persisted = &ctx->metrics->get_counter(
      "mycelium_gdb_persisted_entries_total",
      "Entries written to SQLite (local writes and merges).");
  st.entries = &ctx->metrics->get_gauge(
      "mycelium_gdb_entries",
      "Entries of the replica (deleted keys included).");
  st.entries->set(static_cast<double>(st.core->db().map().entries.size()));
  st.core->db().set_isolated(mode_unknown);
  register_as(self->home_system(), "gdb", caf::actor_cast<caf::actor>(self));
  auto tick = std::chrono::milliseconds(ctx->cfg.gdb.anti_entropy_interval_ms);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.isolation.address())
      return;
    // The controller is restarting: writes wait for the mode it restores.
    st.isolation = caf::actor{};
    st.mode_known = false;
    st.core->db().set_isolated(mode_unknown);
    self->send(self, mode_wait_atom::value);
  });
  self->send(self, mode_wait_atom::value);
  self->send(self, tick_atom::value);
  return {
      [=](mode_wait_atom) {
        // The controller may register after this actor's start (siblings
        // initialise concurrently): look again soon, not one anti-entropy
        // period later.
        auto& st = self->state;
        if (st.mode_known)
          return;
        follow_isolation(self);
        self->delayed_send(self, std::chrono::milliseconds(20),
                           mode_wait_atom::value);
      },
      [=](tick_atom) {
        auto& st = self->state;
        follow(self, st.membership, "membership");
        follow(self, st.spores, "spores");
        follow_isolation(self);
        perform(self, st.core->on_tick(st.ctx->wall_clock()));
        self->delayed_send(self, tick, tick_atom::value);
      },
      [=](member_atom, const membership::event& ev) {
        if (member_reachable(ev.member.st))
          self->state.core->peer_up(ev.member.id, ev.member.name);
        else
          self->state.core->peer_down(ev.member.id);
      },
      [=](spore_ev_atom, const spores::tracker_event& ev) {
        if (ev.what == spores::tracker_event::type::returned &&
            ev.decision == spores::rejoin::sync_required)
          perform(self, self->state.core->sync_with(
                            ev.node_id, self->state.ctx->wall_clock()));
      },
      [=](frame_atom, const std::string& from, uint16_t,
          const std::string& payload) {
        auto msg = gdb::decode(payload);
        if (!msg) {
          ++self->state.bad_frames;
          log::warning("gdb", "bad message from " + from.substr(0, 8) + ": " +
                                  msg.err().message());
          return;
        }
        perform(self, self->state.core->on_message(
                          from, *msg, self->state.ctx->wall_clock()));
      },
      [=](mode_atom, bool read_only, const std::string& why) {
        auto& st = self->state;
        auto& db = st.core->db();
        bool was = st.mode_known ? !db.isolated().empty() : false;
        if (read_only != was)
          log::warning("gdb", read_only ? "read-only: " + why
                                        : std::string{"writable again"});
        st.mode_known = true;
        db.set_isolated(read_only ? why : std::string{});
      },
      [=](db_atom, const std::string& args) { return command(self, args); },
      [=](put_atom, const std::string& key,
          const std::string& value) -> caf::result<bool> {
        if (auto err = write_put(self, key, value, gdb::crdt_value::type::lww))
          return err;
        return true;
      },
      [=](del_atom, const std::string& key) -> caf::result<bool> {
        if (auto err = write_del(self, key))
          return err;
        return true;
      },
      [=](scan_atom, const std::string& prefix) { return scan(self, prefix); },
      [=](status_atom) { return render_stats(self); },
  };
}

} // namespace

child_spec gdb_child(node_context_ptr ctx) {
  return worker_child("gdb", gdb_impl, std::move(ctx));
}

} // namespace mycelium::actors
