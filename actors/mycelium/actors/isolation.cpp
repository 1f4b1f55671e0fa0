#include "mycelium/actors/isolation.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/store_failures.hpp"
#include "mycelium/actors/worker_child.hpp"
#include "mycelium/isolation/isolation_core.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/store/state_store.hpp"
#include "mycelium/system/log.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <map>
#include <optional>

namespace mycelium::actors {

namespace {

using isolation::isolation_core;

struct isolation_state {
  static constexpr const char* name = "isolation";
  node_context_ptr ctx;
  std::unique_ptr<isolation_core> core;
  std::optional<store::state_store> store;
  caf::actor membership;
  std::vector<caf::actor> subscribers;
  /// What membership last said of each member, by id.
  std::map<std::string, isolation::member_seen> members;
  /// The spore tracker's known nodes at its last answer (id -> node).
  std::map<std::string, isolation::known_node> spores;
  /// Whether the spore tracker answered once: until then the node does not
  /// know whom it knows, and would take itself for a network of one.
  bool spores_seen = false;
  /// When the transport last heard any peer, as of its last answer (0:
  /// no answer yet), moved up by every member seen reachable.
  wall_ms heard_at = 0;
  /// A mode change that could not be saved yet (full disk).
  bool unsaved = false;
  store_failures failures{"isolation"};
  metrics::gauge* read_only = nullptr;
  std::map<std::string, metrics::gauge*> modes;
};

using self_ptr = caf::stateful_actor<isolation_state>*;

metrics::counter& events_counter(const node_context& ctx,
                                 isolation::event::type t) {
  return ctx.metrics->get_counter(
      "mycelium_isolation_events_total",
      "Isolation changes (isolated, rejoined, overridden, override_revoked).",
      {{"event", isolation::to_string(t)}});
}

/// The view from what membership and the spore tracker last said (the rule
/// is the core's `make_view`).
isolation::view current_view(self_ptr self) {
  auto& st = self->state;
  std::vector<isolation::member_seen> members;
  for (auto& [id, m] : st.members)
    members.push_back(m);
  std::vector<isolation::known_node> spores;
  for (auto& [id, n] : st.spores)
    spores.push_back(n);
  return isolation::make_view(
      members, spores, st.ctx->identity->node_id(),
      st.heard_at == 0
          ? -1
          : std::max<int64_t>(0, st.ctx->wall_clock() - st.heard_at));
}

/// Free disk and failing stores, as the components last reported them.
isolation::resources current_resources(self_ptr self) {
  return self->state.ctx->resources->snapshot();
}

std::string reason_of(self_ptr self) {
  return self->state.core->read_only_reason();
}

void notify(self_ptr self, const caf::actor& to) {
  self->send(to, mode_atom::value, self->state.core->read_only(),
             reason_of(self));
}

void export_mode(self_ptr self) {
  auto& st = self->state;
  st.read_only->set(st.core->read_only() ? 1 : 0);
  auto now = isolation::to_string(st.core->current().current);
  for (auto& [name, g] : st.modes)
    g->set(name == now ? 1 : 0);
}

/// Saves the state; unsaved (full disk), the mode still takes effect (a
/// node must turn read-only even when it cannot write that down) and the
/// save is tried again every tick.
void persist(self_ptr self) {
  auto& st = self->state;
  auto saved = st.store->save("isolation", "state", st.core->save());
  st.unsaved = !st.failures.record(*st.ctx, "the isolation state",
                                   saved ? "" : saved.err().to_string());
}

void perform(self_ptr self, const isolation::effects& fx) {
  auto& st = self->state;
  if (fx.changed || st.unsaved)
    persist(self);
  for (auto& ev : fx.events) {
    events_counter(*st.ctx, ev.what).inc();
    auto line = std::string{isolation::to_string(ev.what)} + ": " + ev.detail;
    if (ev.what == isolation::event::type::rejoined)
      log::info("isolation", line);
    else
      log::warning("isolation", line);
  }
  if (fx.changed) {
    export_mode(self);
    for (auto& s : st.subscribers)
      notify(self, s);
  }
  if (!fx.dial.empty())
    if (auto transport = registered(self->home_system(), "transport"))
      for (auto& a : fx.dial)
        self->send(transport, connect_atom::value, a);
}

void observe(self_ptr self) {
  auto& st = self->state;
  if (!st.spores_seen)
    return;
  perform(self, st.core->observe(current_view(self), current_resources(self),
                                 st.ctx->wall_clock()));
}

/// Takes the spore tracker's known nodes.
void take_spores(self_ptr self, const known_nodes& known) {
  auto& spores = self->state.spores;
  spores.clear();
  for (auto& n : known.nodes)
    if (!n.id.empty())
      spores[n.id] = n;
  self->state.spores_seen = true;
}

json render(self_ptr self) {
  auto& st = self->state;
  auto& s = st.core->current();
  auto& cfg = st.core->config();
  auto v = st.core->effective(current_view(self));
  auto r = current_resources(self);
  json unreachable = json::array();
  for (auto& n : v.unreachable)
    unreachable.push_back(
        {{"id", n.id}, {"name", n.name}, {"addresses", n.addresses}});
  return {
      {"mode", isolation::to_string(s.current)},
      {"read_only", st.core->read_only()},
      {"reason", reason_of(self)},
      {"enabled", cfg.enabled},
      {"reachable", v.reachable},
      {"heard_ago_ms", v.heard_ago_ms},
      {"unreachable", unreachable},
      {"alone_since_ms", s.alone_since},
      {"isolated_since_ms", s.isolated_since},
      {"override_possible_at_ms",
       s.isolated_since == 0 ? 0 : s.isolated_since + cfg.override_after_ms},
      {"overridden_at_ms", s.overridden_at},
      {"overridden_by", s.overridden_by},
      {"override_reason", s.override_reason},
      {"dialed", st.core->dialed()},
      {"resources",
       {{"disk_free_ratio", r.disk_free_ratio},
        {"failing_stores", r.failing_stores},
        {"shortfalls", st.core->shortfalls(r)}}},
      {"settings",
       {{"grace_ms", cfg.grace_ms},
        {"override_after_ms", cfg.override_after_ms},
        {"auto_override_after_ms", cfg.auto_override_after_ms},
        {"min_disk_free_ratio", cfg.min_disk_free_ratio},
        {"silence_ms", cfg.silence_ms}}}};
}

caf::result<std::string> command(self_ptr self, const std::string& args_json) {
  auto& st = self->state;
  auto a = command_words(args_json);
  if (a.empty() || (a.size() == 1 && a[0] == "status")) {
    observe(self);
    return render(self).dump();
  }
  auto now = st.ctx->wall_clock();
  result<isolation::effects> fx = isolation::effects{};
  if (a[0] == "override") {
    bool force = a.size() > 1 && a[1] == "--force";
    std::string reason;
    for (size_t i = force ? 2 : 1; i < a.size(); ++i)
      reason += (reason.empty() ? "" : " ") + a[i];
    observe(self);
    fx = st.core->override_isolation("the console", reason, force,
                                     current_resources(self), now);
  } else if (a[0] == "revoke" && a.size() == 1) {
    fx = st.core->revoke("the console", now);
  } else {
    return make_error(errc::bad_request,
                      "usage: isolation [status] | override [--force] "
                      "[REASON] | revoke");
  }
  if (!fx)
    return make_error(errc::refused, fx.err().message());
  perform(self, *fx);
  return render(self).dump();
}

caf::behavior isolation_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  st.core = std::make_unique<isolation_core>(ctx->cfg.isolation);
  auto store = store::state_store::open(ctx->db);
  if (!started_ok(self, store))
    return {};
  st.store = std::move(*store);
  auto saved = st.store->load("isolation", "state");
  if (!started_ok(self, saved))
    return {};
  if (saved->has_value()) {
    // A state that does not decode is logged and dropped: the node then
    // starts connected and the controller finds out again within the grace
    // period (refusing to start would leave the node without one).
    if (auto loaded = st.core->load((*saved)->value); !loaded)
      log::error("isolation", loaded.err().message() + "; starting connected");
  }
  st.read_only = &ctx->metrics->get_gauge(
      "mycelium_isolation_read_only",
      "1 while the node is isolated and refuses writes.");
  for (auto m : {isolation::mode::connected, isolation::mode::isolated,
                 isolation::mode::overridden})
    st.modes[isolation::to_string(m)] = &ctx->metrics->get_gauge(
        "mycelium_isolation_mode", "1 for the isolation controller's mode.",
        {{"mode", isolation::to_string(m)}});
  for (auto t :
       {isolation::event::type::isolated, isolation::event::type::rejoined,
        isolation::event::type::overridden,
        isolation::event::type::override_revoked})
    events_counter(*ctx, t);
  export_mode(self);
  log::info("isolation", std::string{"starting "} +
                             isolation::to_string(st.core->current().current) +
                             (ctx->cfg.isolation.enabled ? "" : " (disabled)"));
  register_as(self->home_system(), "isolation",
              caf::actor_cast<caf::actor>(self));
  self->set_down_handler(
      [=](caf::down_msg& msg) { forget(self->state.subscribers, msg.source); });
  // Often enough that the transport's evidence and the grace period are
  // seen within a small part of the grace.
  auto tick = std::chrono::milliseconds(
      std::clamp<int64_t>(ctx->cfg.isolation.grace_ms / 10, 50, 1000));
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        follow(self, self->state.membership, "membership");
        if (auto spores = registered(self->home_system(), "spores"))
          self->request(spores, std::chrono::seconds(5), known_atom::value)
              .then(
                  [=](const known_nodes& known) {
                    take_spores(self, known);
                    observe(self);
                  },
                  [=](caf::error&) {});
        if (auto transport = registered(self->home_system(), "transport"))
          self->request(transport, std::chrono::seconds(5), heard_atom::value)
              .then(
                  [=](int64_t ago) {
                    self->state.heard_at = self->state.ctx->wall_clock() - ago;
                    observe(self);
                  },
                  [=](caf::error&) {});
        self->delayed_send(self, tick, tick_atom::value);
      },
      [=](member_atom, const membership::event& ev) {
        if (ev.member.id.empty())
          return;
        using status = isolation::member_seen::status;
        auto st = ev.member.st;
        self->state.members[ev.member.id] = {
            ev.member.id, ev.member.name, ev.member.address,
            member_reachable(st)            ? status::reachable
            : st == membership::state::left ? status::left
                                            : status::failed};
        // Alive again: membership (or someone it heard) heard from it.
        if (st == membership::state::alive)
          self->state.heard_at = self->state.ctx->wall_clock();
        // A peer back: reappearance ends an isolation now, not next tick.
        observe(self);
      },
      [=](isolation_atom, const std::string& args) {
        return command(self, args);
      },
      [=](status_atom) { return render(self).dump(); },
      [=](subscribe_atom) {
        auto sub = caf::actor_cast<caf::actor>(self->current_sender());
        if (sub) {
          self->state.subscribers.push_back(sub);
          self->monitor(sub);
          notify(self, sub);
        }
      },
  };
}

} // namespace

child_spec isolation_child(node_context_ptr ctx) {
  return worker_child("isolation", isolation_impl, std::move(ctx));
}

} // namespace mycelium::actors
