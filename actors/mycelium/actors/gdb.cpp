#include "mycelium/actors/gdb.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/worker_child.hpp"
#include "mycelium/config/json.hpp"
#include "mycelium/gdb/database_core.hpp"
#include "mycelium/gdb/merkle.hpp"
#include "mycelium/store/state_store.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/wire/hello.hpp"

#include <caf/all.hpp>

#include <map>
#include <optional>
#include <set>

namespace mycelium::actors {

namespace {

using gdb::database_core;

struct gdb_state {
  static constexpr const char* name = "gdb";
  node_context_ptr ctx;
  std::unique_ptr<database_core> core;
  std::optional<store::state_store> store;
  caf::actor membership;
  caf::actor spores;
  /// Live members (node id -> name).
  std::map<std::string, std::string> peers;
  /// Wall ms of the last anti-entropy exchange per peer.
  std::map<std::string, int64_t> reconciled;
  uint64_t bad_frames = 0;
  uint64_t writes = 0;
};

using self_ptr = caf::stateful_actor<gdb_state>*;

caf::error refused(const error& e) {
  auto code = static_cast<gdb::gdb_errc>(e.code());
  return make_error(code == gdb::gdb_errc::read_only   ? errc::read_only
                    : code == gdb::gdb_errc::not_found ? errc::not_found
                                                       : errc::bad_request,
                    std::string{e.message()});
}

/// Persists the current state of `keys` (one transaction).
void persist(self_ptr self, const std::set<std::string>& keys) {
  auto& st = self->state;
  std::vector<std::pair<std::string, std::string>> puts;
  for (auto& k : keys)
    if (auto i = st.core->map().entries.find(k);
        i != st.core->map().entries.end())
      puts.emplace_back(k, gdb::encode_entry(k, i->second));
  auto saved = st.store->save_many("gdb", puts);
  if (!saved)
    throw std::runtime_error("cannot persist gdb entries: " +
                             saved.err().to_string());
}

void send_to(self_ptr self, const std::string& node,
             const gdb::sync_message& msg) {
  if (auto t = registered(self->home_system(), "transport"))
    self->send(t, send_atom::value, node,
               static_cast<uint16_t>(wire::kind::gdb), gdb::encode(msg));
}

/// A local write: persisted before the caller acknowledges it, then its
/// delta goes to every live member.
void commit(self_ptr self, const std::string& key, const gdb::or_map& delta) {
  auto& st = self->state;
  persist(self, {key});
  ++st.writes;
  gdb::sync_message msg;
  msg.kind = gdb::sync_message::type::entries_final;
  for (auto& [k, e] : delta.entries)
    msg.entries.emplace_back(k, e);
  for (auto& [id, name] : st.peers)
    send_to(self, id, msg);
}

void start_sync(self_ptr self, const std::string& node) {
  self->state.reconciled[node] = self->state.ctx->wall_clock();
  send_to(self, node, gdb::start_sync(self->state.core->map()));
}

std::string render_stats(self_ptr self) {
  auto& st = self->state;
  size_t keys = 0;
  size_t bytes = 0;
  for (auto& [k, e] : st.core->map().entries) {
    keys += !e.presence.empty();
    bytes += k.size() + gdb::encode_entry(k, e).size();
  }
  json peers = json::object();
  for (auto& [id, name] : st.peers)
    peers[name.empty() ? id.substr(0, 8) : name] =
        st.reconciled.count(id) ? st.reconciled[id] : 0;
  return json{{"keys", keys},
              {"entries", st.core->map().entries.size()},
              {"bytes", bytes},
              {"read_only", st.core->read_only()},
              {"writes_since_start", st.writes},
              {"bad_frames", st.bad_frames},
              {"last_reconciliation_ms", peers}}
      .dump();
}

caf::result<std::string> command(self_ptr self, const std::string& args_json) {
  auto& st = self->state;
  auto args = json::parse(args_json, nullptr, false);
  if (!args.is_array() || args.empty())
    return make_error(errc::bad_request, "db needs a subcommand");
  std::vector<std::string> a;
  for (auto& x : args)
    a.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  auto& sub = a[0];
  auto wall = st.ctx->wall_clock();
  if (sub == "put" && (a.size() == 3 || a.size() == 4)) {
    auto kind = gdb::crdt_value::type::lww;
    if (a.size() == 4) {
      auto t = gdb::parse_type(a[3]);
      if (!t)
        return refused(t.err());
      kind = *t;
    }
    auto delta = st.core->put(a[1], a[2], kind, wall);
    if (!delta)
      return refused(delta.err());
    commit(self, a[1], *delta);
    return json{{"key", a[1]}, {"type", gdb::to_string(kind)}, {"ok", true}}
        .dump();
  }
  if (sub == "del" && a.size() == 2) {
    auto delta = st.core->del(a[1]);
    if (!delta)
      return refused(delta.err());
    commit(self, a[1], *delta);
    return json{{"key", a[1]}, {"deleted", true}}.dump();
  }
  if (sub == "get" && a.size() == 2) {
    auto v = st.core->get(a[1]);
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
    return json{{"keys", st.core->list(a.size() == 2 ? a[1] : "")}}.dump();
  if (sub == "stats" && a.size() == 1)
    return render_stats(self);
  if (sub == "read-only" && a.size() == 2 && (a[1] == "on" || a[1] == "off")) {
    st.core->set_read_only(a[1] == "on");
    log::warning("gdb", std::string{"read-only mode "} + a[1]);
    return json{{"read_only", st.core->read_only()}}.dump();
  }
  return make_error(errc::bad_request,
                    "usage: db put KEY VALUE [lww|mv|counter|set] | get KEY | "
                    "del KEY | list [PREFIX] | stats | read-only on|off");
}

caf::behavior gdb_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  auto store = store::state_store::open(ctx->db);
  if (!store) {
    self->quit(to_caf_error(store.err()));
    return {};
  }
  st.store = std::move(*store);
  gdb::limits lim;
  lim.max_key_bytes = static_cast<size_t>(ctx->cfg.gdb.max_key_bytes);
  lim.max_value_bytes = static_cast<size_t>(ctx->cfg.gdb.max_value_bytes);
  st.core = std::make_unique<database_core>(ctx->identity->node_id(), lim);
  auto rows = st.store->load_all("gdb");
  if (!rows) {
    self->quit(to_caf_error(rows.err()));
    return {};
  }
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
    st.core->apply(entry->first, entry->second);
  }
  log::info("gdb", "starting with " + std::to_string(rows->size()) +
                       " stored entries");
  register_as(self->home_system(), "gdb", caf::actor_cast<caf::actor>(self));
  auto tick = std::chrono::milliseconds(ctx->cfg.gdb.anti_entropy_interval_ms);
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        auto& st = self->state;
        follow(self, st.membership, "membership");
        follow(self, st.spores, "spores");
        if (!st.peers.empty()) {
          auto it = st.peers.begin();
          std::advance(it, static_cast<long>(
                               static_cast<uint64_t>(st.ctx->wall_clock()) %
                               st.peers.size()));
          start_sync(self, it->first);
        }
        self->delayed_send(self, tick, tick_atom::value);
      },
      [=](member_atom, const std::string& text) {
        auto doc = json::parse(text, nullptr, false);
        if (!doc.is_object())
          return;
        auto id = doc.value("id", "");
        auto state = doc.value("state", "");
        if (state == "alive" || state == "suspect")
          self->state.peers[id] = doc.value("name", "");
        else
          self->state.peers.erase(id);
      },
      [=](spore_ev_atom, const std::string& text) {
        auto doc = json::parse(text, nullptr, false);
        if (doc.is_object() && doc.value("event", "") == "returned" &&
            doc.value("decision", "") == "sync_required")
          start_sync(self, doc.value("id", ""));
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
        std::set<std::string> keys;
        for (auto& [k, e] : msg->entries)
          keys.insert(k);
        auto answers = gdb::on_sync(self->state.core->map(), *msg);
        if (!keys.empty()) {
          persist(self, keys);
          self->state.reconciled[from] = self->state.ctx->wall_clock();
        }
        for (auto& a : answers)
          send_to(self, from, a);
      },
      [=](db_atom, const std::string& args) { return command(self, args); },
      [=](status_atom) { return render_stats(self); },
  };
}

} // namespace

child_spec gdb_child(node_context_ptr ctx) {
  return worker_child("gdb", gdb_impl, std::move(ctx));
}

} // namespace mycelium::actors
