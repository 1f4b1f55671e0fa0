#include "mycelium/actors/membership.hpp"

#include "mycelium/actors/worker_child.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/store_failures.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/membership/codec.hpp"
#include "mycelium/store/state_store.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/wire/hello.hpp"

#include <caf/all.hpp>

#include <charconv>

#include <set>

#include <map>
#include <optional>

namespace mycelium::actors {

namespace {

using membership::swim_core;

struct membership_state {
  static constexpr const char* name = "membership";
  node_context_ptr ctx;
  std::unique_ptr<swim_core> core;
  std::optional<store::state_store> store;
  std::vector<caf::actor> subscribers;
  /// Events published since this actor started, by type (console, bench).
  std::map<std::string, uint64_t> event_counts;
  /// Peers with a mycelium_member_up series.
  std::set<std::string> exported;
  /// Tick count, to refresh the gauges every so many ticks.
  uint64_t ticks = 0;
  /// An incarnation the store has not taken yet.
  std::optional<uint64_t> unsaved_incarnation;
  store_failures failures{"membership"};
  metrics::histogram* probe_rtt = nullptr;
};

using self_ptr = caf::stateful_actor<membership_state>*;

caf::actor transport_of(self_ptr self) {
  return registered(self->home_system(), "transport");
}

/// Gauges of the membership table: members by state, and per member 1
/// while alive or suspect, 0 once failed (left members disappear).
void count_members(self_ptr self) {
  auto& st = self->state;
  auto& m = *st.ctx->metrics;
  std::map<std::string, int> by_state{
      {"alive", 0}, {"suspect", 0}, {"failed", 0}, {"left", 0}};
  std::set<std::string> exported;
  for (auto& v : st.core->members()) {
    auto state = membership::to_string(v.info.st);
    ++by_state[state];
    if (v.info.st == membership::state::left)
      continue;
    auto peer = v.info.name.empty() ? v.info.id.substr(0, 8) : v.info.name;
    exported.insert(peer);
    m.get_gauge("mycelium_member_up",
                "1 while the member is alive or suspect, 0 once failed.",
                {{"peer", peer}})
        .set(v.info.st == membership::state::failed ? 0 : 1);
  }
  // Members that left or were forgotten (retain_failed_ms) disappear, and
  // with them any alert on their series.
  for (auto& peer : st.exported)
    if (exported.count(peer) == 0)
      m.remove("mycelium_member_up", {{"peer", peer}});
  st.exported = std::move(exported);
  for (auto& [state, n] : by_state)
    m.get_gauge("mycelium_members", "Members of the table by state.",
                {{"state", state}})
        .set(n);
}

void perform(self_ptr self, membership::effects fx) {
  auto& st = self->state;
  if (fx.persist_incarnation) {
    st.unsaved_incarnation = fx.persist_incarnation;
    log::info("membership",
              "incarnation is now " + std::to_string(*fx.persist_incarnation));
  }
  if (st.unsaved_incarnation) {
    // Persist before anything announcing it leaves: a restart must never
    // come back with a lower incarnation than the network has seen. When
    // the store refuses (full disk) the refutation still goes out, or the
    // node would be declared failed; the save is retried with every
    // effect, and a restart in between refutes its old death once more.
    auto saved = st.store->save("membership", "incarnation",
                                std::to_string(*st.unsaved_incarnation));
    if (st.failures.record(*st.ctx, "the incarnation",
                           saved ? "" : saved.err().to_string()))
      st.unsaved_incarnation.reset();
  }
  if (fx.probe_rtt)
    st.probe_rtt->observe(std::chrono::duration<double>(*fx.probe_rtt).count());
  if (!fx.events.empty())
    count_members(self);
  auto transport = transport_of(self);
  for (auto& ev : fx.events) {
    auto who = ev.member.name + " (" + ev.member.id.substr(0, 8) + ")";
    auto what = std::string{membership::to_string(ev.what)};
    ++st.event_counts[what];
    if (ev.what == membership::event::type::failed ||
        ev.what == membership::event::type::suspect)
      log::warning("membership", who + " " + what + " at incarnation " +
                                     std::to_string(ev.member.incarnation));
    else
      log::info("membership", who + " " + what + " at " + ev.member.address +
                                  ", incarnation " +
                                  std::to_string(ev.member.incarnation));
    if (transport && !ev.member.address.empty() &&
        (ev.what == membership::event::type::joined ||
         ev.what == membership::event::type::recovered ||
         ev.what == membership::event::type::address_changed))
      self->send(transport, connect_atom::value, ev.member.address);
    for (auto& sub : st.subscribers)
      self->send(sub, member_atom::value, ev);
  }
  if (!transport)
    return;
  for (auto& out : fx.sends) {
    self->send(transport, send_atom::value, out.to,
               static_cast<uint16_t>(wire::kind::membership),
               membership::encode(out.msg));
  }
}

std::string render(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  json doc;
  auto& me = st.core->self();
  doc["self"] = {{"id", me.id},
                 {"name", me.name},
                 {"address", me.address},
                 {"incarnation", me.incarnation}};
  doc["health_score"] = st.core->health_score();
  auto members = json::array();
  for (auto& m : st.core->members())
    members.push_back(
        {{"id", m.info.id},
         {"name", m.info.name},
         {"address", m.info.address},
         {"state", membership::to_string(m.info.st)},
         {"incarnation", m.info.incarnation},
         {"since_ms", to_ms(now - m.since)},
         {"last_heard_ms",
          m.last_heard == time_point{} ? -1 : to_ms(now - m.last_heard)}});
  doc["members"] = members;
  doc["events_since_start"] = st.event_counts;
  return doc.dump();
}

caf::behavior membership_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  auto store = store::state_store::open(ctx->db);
  if (!started_ok(self, store))
    return {};
  st.store = std::move(*store);
  auto incarnation = stored_incarnation(*st.store);
  if (!started_ok(self, incarnation))
    return {};
  membership::update me{ctx->identity->node_id(), ctx->cfg.listen.to_string(),
                        ctx->cfg.name, *incarnation, membership::state::alive};
  st.core = std::make_unique<swim_core>(
      ctx->cfg.membership, me,
      static_cast<uint64_t>(ctx->wall_clock()) ^ 0x5eed);
  st.probe_rtt = &ctx->metrics->get_histogram(
      "mycelium_membership_probe_rtt_seconds",
      "Round trip of answered failure-detector probes.");
  count_members(self);
  register_as(self->home_system(), "membership",
              caf::actor_cast<caf::actor>(self));
  log::info("membership",
            "starting at incarnation " + std::to_string(*incarnation));
  self->set_down_handler(
      [=](caf::down_msg& msg) { forget(self->state.subscribers, msg.source); });
  // Peers connected before we (re)started: join through them.
  if (auto t = transport_of(self))
    self->request(t, std::chrono::seconds(5), links_atom::value)
        .then(
            [=](const transport_links& links) {
              for (auto& p : links.established)
                perform(self,
                        self->state.core->on_contact(
                            p.node_id, p.listen, p.name, self->clock().now()));
            },
            [](caf::error&) {});
  auto tick = std::chrono::milliseconds(
      std::max<int64_t>(10, ctx->cfg.membership.probe_timeout_ms / 4));
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        perform(self, self->state.core->on_tick(self->clock().now()));
        // Forgotten members leave the table without an event.
        if (++self->state.ticks % 64 == 0)
          count_members(self);
        self->delayed_send(self, tick, tick_atom::value);
      },
      [=](frame_atom, const std::string& from, uint16_t,
          const std::string& payload) {
        auto msg = membership::decode(payload);
        if (!msg) {
          log::warning("membership", "bad message from " + from.substr(0, 8) +
                                         ": " + msg.err().message());
          return;
        }
        perform(self,
                self->state.core->on_message(from, *msg, self->clock().now()));
      },
      [=](contact_atom, const std::string& id, const std::string& listen,
          const std::string& name) {
        perform(self, self->state.core->on_contact(id, listen, name,
                                                   self->clock().now()));
      },
      [=](subscribe_atom) {
        auto sub = caf::actor_cast<caf::actor>(self->current_sender());
        if (sub) {
          self->state.subscribers.push_back(sub);
          self->monitor(sub);
          // A late subscriber starts from the current table.
          for (auto& m : self->state.core->members())
            self->send(
                sub, member_atom::value,
                membership::event{membership::event::type::joined, m.info});
        }
      },
      [=](members_atom) { return render(self); },
      [=](status_atom) { return render(self); },
  };
}

} // namespace

child_spec membership_child(node_context_ptr ctx) {
  return worker_child("membership", membership_impl, std::move(ctx));
}

result<uint64_t> stored_incarnation(store::state_store& store) {
  auto saved = store.load("membership", "incarnation");
  if (!saved)
    return saved.err();
  if (!saved->has_value())
    return uint64_t{0};
  auto& text = (*saved)->value;
  uint64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size())
    return store::make_error(store::errc::corrupt, "the stored incarnation '" +
                                                       text.substr(0, 40) +
                                                       "' is not a number");
  return value;
}

} // namespace mycelium::actors
