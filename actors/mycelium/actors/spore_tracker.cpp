#include "mycelium/actors/spore_tracker.hpp"

#include "mycelium/actors/membership.hpp"
#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/store_failures.hpp"
#include "mycelium/actors/worker_child.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/spores/codec.hpp"
#include "mycelium/store/state_store.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/wire/hello.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

namespace mycelium::actors {

namespace {

using spores::tracker_core;

/// The key the master seed spore is stored under (node ids are hex).
constexpr const char* master_key = "~master";

/// The tracker's series, registered when it starts so that a scrape sees
/// them (at 0) before the first event.
metrics::counter& event_counter(const node_context& ctx,
                                spores::tracker_event::type what) {
  return ctx.metrics->get_counter(
      "mycelium_spore_events_total",
      "Spore tracker events (learned, returned, section_rejoined).",
      {{"event", spores::to_string(what)}});
}

struct spore_state {
  static constexpr const char* name = "spores";
  node_context_ptr ctx;
  std::unique_ptr<tracker_core> core;
  std::optional<store::state_store> store;
  caf::actor membership;
  std::vector<caf::actor> subscribers;
  std::map<std::string, uint64_t> event_counts;
  uint64_t bad_frames = 0;
  int64_t summary_slot = -1;
  /// Spores (by node id) and the master spore changed but not yet saved.
  std::set<std::string> unsaved;
  bool unsaved_master = false;
  store_failures failures{"spores"};
  metrics::gauge* known = nullptr;
};

using self_ptr = caf::stateful_actor<spore_state>*;

spores::tracker_config tracker_config_of(const config::node_config& cfg) {
  spores::tracker_config t;
  t.slot_ms = cfg.spores.slot_ms;
  t.sync_interval_ms = cfg.spores.sync_interval_ms;
  t.buckets = static_cast<uint32_t>(cfg.spores.buckets);
  t.retention_ms = cfg.spores.retention_ms;
  t.return_decision_ms = cfg.spores.return_decision_ms;
  t.rules.lww_tolerance_ms = cfg.spores.lww_tolerance_ms;
  return t;
}

/// The master seed spore this node's config describes: the settings every
/// node of the network must share, and a digest of them.
spores::master_spore master_of(const config::node_config& cfg) {
  spores::master_spore m;
  m.network_id = cfg.network_id;
  m.protocol_min = static_cast<uint32_t>(cfg.transport.protocol_min);
  m.protocol_max = static_cast<uint32_t>(cfg.transport.protocol_max);
  for (auto& s : cfg.seeds)
    m.seeds.push_back(s.to_string());
  auto& mc = cfg.membership;
  json shared{{"network_id", cfg.network_id},
              {"protocol", {m.protocol_min, m.protocol_max}},
              {"probe_interval_ms", mc.probe_interval_ms},
              {"suspicion_alpha", mc.suspicion_alpha},
              {"slot_ms", cfg.spores.slot_ms},
              {"lww_tolerance_ms", cfg.spores.lww_tolerance_ms},
              {"buckets", cfg.spores.buckets}};
  m.settings_digest = crypto::to_hex(crypto::sha256(shared.dump()));
  return m;
}

json spore_json(const spores::spore_view& v, int64_t slot_ms, int64_t now,
                bool detail) {
  auto& s = *v.spore;
  json doc{{"id", s.node_id},
           {"name", s.pointer.name},
           {"addresses", s.pointer.addresses},
           {"incarnation", s.pointer.incarnation},
           {"state", v.online ? "online" : "offline"},
           {"since_ms", v.since_ms},
           {"first_seen_ms", s.first_seen_ms}};
  auto last = s.last_active_slot();
  // The end of the last active slot, or now while that slot is running.
  doc["last_activity_ms"] = last ? std::min((*last + 1) * slot_ms, now) : 0;
  if (!detail)
    return doc;
  auto periods = json::array();
  for (auto& p : spores::periods(s.activity, slot_ms))
    periods.push_back({{"start_ms", p.start_ms}, {"end_ms", p.end_ms}});
  doc["activity_periods"] = periods;
  doc["data_bytes"] = s.summary.data_bytes;
  doc["processed_ops"] = s.summary.processed_ops;
  doc["pointer_stamp"] = s.pointer.stamp.to_string();
  doc["summary_stamp"] = s.summary.stamp.to_string();
  return doc;
}

std::string short_id(const std::string& id) {
  return id.substr(0, 8);
}

void perform(self_ptr self, spores::tracker_effects fx) {
  auto& st = self->state;
  // Persist first: nothing learned is announced or passed on before it is
  // on disk. When the store refuses (full disk), the tracker goes on from
  // memory (a restart would fail the same way), and the spores it could not
  // save are saved, as they are then, with the next change: what an
  // earlier change could not save, as the tracker holds it now, then this
  // change's spores and forgets (newer) over it.
  std::map<std::string, std::string> puts;
  std::set<std::string> forget;
  auto& known = st.core->spores();
  for (auto& id : st.unsaved)
    if (auto i = known.find(id); i != known.end())
      puts[id] = spores::encode_spore(i->second);
    else
      forget.insert(id);
  for (auto& s : fx.persist) {
    puts[s.node_id] = spores::encode_spore(s);
    forget.erase(s.node_id);
  }
  for (auto& id : fx.forget) {
    puts.erase(id);
    forget.insert(id);
  }
  if (fx.persist_master)
    puts[master_key] = spores::encode_master(*fx.persist_master);
  else if (st.unsaved_master)
    puts[master_key] = spores::encode_master(st.core->master());
  auto saved = puts.empty() && forget.empty()
                   ? ok()
                   : st.store->save_many("spores", {puts.begin(), puts.end()},
                                         std::vector<std::string>{
                                             forget.begin(), forget.end()});
  st.unsaved.clear();
  st.unsaved_master = false;
  if (!st.failures.record(*st.ctx, "spores",
                          saved ? "" : saved.err().to_string())) {
    for (auto& put : puts)
      if (put.first != master_key)
        st.unsaved.insert(put.first);
      else
        st.unsaved_master = true;
    st.unsaved.insert(forget.begin(), forget.end());
  }
  auto transport = registered(self->home_system(), "transport");
  if (!fx.events.empty() || !fx.persist.empty())
    st.known->set(static_cast<double>(st.core->spores().size()));
  for (auto& ev : fx.events) {
    auto what = std::string{spores::to_string(ev.what)};
    ++st.event_counts[what];
    event_counter(*st.ctx, ev.what).inc();
    if (ev.what == spores::tracker_event::type::learned) {
      log::info("spores",
                "learned of " + short_id(ev.node_id) +
                    (ev.addresses.empty() ? std::string{}
                                          : " at " + ev.addresses.front()));
      // A node known only through spores: contact it (membership takes
      // over once the transport connects).
      if (transport && !ev.addresses.empty() &&
          !st.core->view(ev.node_id)->online)
        self->send(transport, connect_atom::value, ev.addresses.front());
    } else {
      log::info("spores", what + " " +
                              (ev.node_id.empty() ? std::string{"section"}
                                                  : short_id(ev.node_id)) +
                              ": " + spores::to_string(ev.decision) +
                              " (apart since " +
                              std::to_string(ev.apart_since_ms) + ")");
    }
    for (auto& sub : st.subscribers)
      self->send(sub, spore_ev_atom::value, ev);
  }
  if (!transport)
    return;
  for (auto& [to, msg] : fx.sends)
    self->send(transport, send_atom::value, to,
               static_cast<uint16_t>(wire::kind::spores), spores::encode(msg));
}

/// Our data and processing volume for our own spore: the size of the
/// node's store and the frames the transport carried (once per slot).
void refresh_summary(self_ptr self) {
  auto& st = self->state;
  std::error_code ec;
  auto bytes =
      std::filesystem::file_size(st.ctx->cfg.data_dir + "/mycelium.db", ec);
  auto transport = registered(self->home_system(), "transport");
  if (!transport)
    return;
  self->request(transport, std::chrono::seconds(5), links_atom::value)
      .then(
          [=](const transport_links& links) {
            perform(self, self->state.core->set_summary(
                              ec ? 0 : bytes, links.frames,
                              self->state.ctx->wall_clock()));
          },
          [](caf::error&) {});
}

std::optional<std::string> resolve(self_ptr self, const std::string& who) {
  auto& all = self->state.core->spores();
  if (all.count(who))
    return who;
  std::optional<std::string> found;
  for (auto& [id, s] : all)
    if (s.pointer.name == who || id.rfind(who, 0) == 0) {
      if (found)
        return std::nullopt; // ambiguous
      found = id;
    }
  return found;
}

std::string render_all(self_ptr self) {
  auto& st = self->state;
  auto slot = st.ctx->cfg.spores.slot_ms;
  auto nodes = json::array();
  size_t online = 0;
  for (auto& v : st.core->view()) {
    online += v.online;
    nodes.push_back(spore_json(v, slot, st.ctx->wall_clock(), false));
  }
  auto& m = st.core->master();
  return json{{"self", st.core->self_id()},
              {"known", nodes.size()},
              {"online", online},
              {"master",
               {{"network_id", m.network_id},
                {"protocol", {m.protocol_min, m.protocol_max}},
                {"seeds", m.seeds},
                {"epoch", m.epoch},
                {"settings_digest", m.settings_digest}}},
              {"nodes", nodes}}
      .dump();
}

caf::behavior spore_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  auto store = store::state_store::open(ctx->db);
  if (!started_ok(self, store))
    return {};
  st.store = std::move(*store);
  auto stored = st.store->load_all("spores");
  if (!started_ok(self, stored))
    return {};
  std::vector<spores::latent_spore> loaded;
  std::optional<spores::master_spore> master;
  for (auto& [key, e] : *stored) {
    if (key == master_key) {
      auto m = spores::decode_master(e.value);
      if (m)
        master = std::move(*m);
      else
        log::warning("spores", "ignoring the stored master spore: " +
                                   m.err().to_string());
      continue;
    }
    auto s = spores::decode_spore(e.value);
    if (!s) {
      log::warning("spores", "ignoring the stored spore " + short_id(key) +
                                 ": " + s.err().to_string());
      continue;
    }
    loaded.push_back(std::move(*s));
  }
  auto incarnation = stored_incarnation(*st.store);
  if (!started_ok(self, incarnation))
    return {};
  spores::latent_spore me;
  me.node_id = ctx->identity->node_id();
  me.pointer = {{ctx->cfg.listen.to_string()}, ctx->cfg.name, *incarnation, {}};
  auto wall = ctx->wall_clock();
  st.core = std::make_unique<tracker_core>(
      tracker_config_of(ctx->cfg), me, master_of(ctx->cfg),
      static_cast<uint64_t>(wall) ^ 0x5b0e, wall);
  st.core->restore(loaded, master);
  st.known = &ctx->metrics->get_gauge(
      "mycelium_spores_known", "Nodes this node remembers (latent spores).");
  for (auto what : {spores::tracker_event::type::learned,
                    spores::tracker_event::type::returned,
                    spores::tracker_event::type::section_rejoined})
    event_counter(*ctx, what);
  log::info("spores", "starting with " + std::to_string(loaded.size()) +
                          " stored spores");
  // Our own spore (new pointer, new slot) and the master as we see them.
  spores::tracker_effects first;
  first.persist.push_back(st.core->spores().at(st.core->self_id()));
  first.persist_master = st.core->master();
  perform(self, std::move(first));
  register_as(self->home_system(), "spores", caf::actor_cast<caf::actor>(self));
  self->set_down_handler(
      [=](caf::down_msg& msg) { forget(self->state.subscribers, msg.source); });
  auto tick = std::chrono::milliseconds(
      std::max<int64_t>(50, ctx->cfg.spores.sync_interval_ms / 2));
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        follow(self, self->state.membership, "membership");
        auto wall = self->state.ctx->wall_clock();
        auto slot = wall / self->state.ctx->cfg.spores.slot_ms;
        if (slot != self->state.summary_slot) {
          self->state.summary_slot = slot;
          refresh_summary(self);
        }
        perform(self, self->state.core->on_tick(wall));
        self->delayed_send(self, tick, tick_atom::value);
      },
      [=](member_atom, const membership::event& ev) {
        auto& m = ev.member;
        auto wall = self->state.ctx->wall_clock();
        if (member_reachable(m.st))
          perform(self, self->state.core->on_alive(m.id, m.name, m.address,
                                                   m.incarnation, wall));
        else
          perform(self, self->state.core->on_gone(m.id, wall));
      },
      [=](frame_atom, const std::string& from, uint16_t,
          const std::string& payload) {
        auto msg = spores::decode(payload);
        if (!msg) {
          ++self->state.bad_frames;
          log::warning("spores", "bad message from " + short_id(from) + ": " +
                                     msg.err().message());
          return;
        }
        perform(self, self->state.core->on_message(
                          from, *msg, self->state.ctx->wall_clock()));
      },
      [=](subscribe_atom) {
        auto sub = caf::actor_cast<caf::actor>(self->current_sender());
        if (sub) {
          self->state.subscribers.push_back(sub);
          self->monitor(sub);
        }
      },
      [=](spores_atom) { return render_all(self); },
      [=](known_atom) {
        known_nodes out;
        for (auto& v : self->state.core->view())
          out.nodes.push_back({v.spore->node_id, v.spore->pointer.name,
                               v.spore->pointer.addresses});
        return out;
      },
      [=](spore_atom, const std::string& who) -> caf::result<std::string> {
        auto id = resolve(self, who);
        if (!id)
          return make_error(errc::not_found,
                            "no single known node matches '" + who + "'");
        auto v = self->state.core->view(*id);
        return spore_json(*v, self->state.ctx->cfg.spores.slot_ms,
                          self->state.ctx->wall_clock(), true)
            .dump();
      },
      [=](status_atom) {
        auto& st = self->state;
        size_t online = 0;
        for (auto& v : st.core->view())
          online += v.online;
        return json{{"known", st.core->spores().size()},
                    {"online", online},
                    {"sync_bytes_sent", st.core->bytes_sent()},
                    {"bad_frames", st.bad_frames},
                    {"events_since_start", st.event_counts}}
            .dump();
      },
  };
}

} // namespace

child_spec spore_tracker_child(node_context_ptr ctx) {
  return worker_child("spores", spore_impl, std::move(ctx));
}

} // namespace mycelium::actors
