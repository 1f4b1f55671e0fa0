#include "mycelium/actors/supervisor.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/system/log.hpp"

#include <caf/all.hpp>

#include <deque>
#include <map>
#include <memory>

namespace mycelium::actors {

namespace {

using supervision::child_state;
using supervision::effects;
using supervision::supervisor_core;

struct supervisor_state {
  static constexpr const char* name = "supervisor";

  std::unique_ptr<supervisor_core> core;
  supervisor_options opts;
  /// Full path of this supervisor, e.g. "node" or "node/services".
  std::string path;
  /// The supervisor above this one (invalid for the root).
  caf::actor parent;
  /// Live children.
  std::map<std::string, caf::actor> handles;
  std::map<caf::actor_addr, std::string> ids;
  /// Root only: event numbering and log.
  uint64_t seq = 0;
  std::deque<health::supervision_event> log;
  std::vector<caf::actor> subscribers;
  /// Reason to exit with once every child stopped (a parent's exit reason).
  caf::error exit_reason;

  const child_spec* spec(const std::string& id) const {
    for (auto& c : opts.children)
      if (c.id == id)
        return &c;
    return nullptr;
  }
};

using self_ptr = caf::stateful_actor<supervisor_state>*;

int64_t wall(self_ptr self) {
  return self->state.opts.wall_clock();
}

void publish(self_ptr self, health::supervision_event ev) {
  auto& st = self->state;
  if (st.parent) {
    self->send(st.parent, event_atom::value, std::move(ev));
    return;
  }
  ev.seq = ++st.seq;
  st.log.push_back(ev);
  while (st.log.size() > st.opts.max_log)
    st.log.pop_front();
  for (auto& sub : st.subscribers)
    self->send(sub, event_atom::value, ev);
}

void emit(self_ptr self, const std::string& child, std::string kind,
          std::string reason = {}, int64_t count = 0, int64_t delay_ms = 0) {
  health::supervision_event ev;
  ev.time = wall(self);
  ev.component =
      child.empty() ? self->state.path : self->state.path + "/" + child;
  ev.kind = std::move(kind);
  ev.reason = std::move(reason);
  ev.count = count;
  ev.delay_ms = delay_ms;
  publish(self, std::move(ev));
}

void perform(self_ptr self, effects fx);

void start_children(self_ptr self, uint64_t ticket) {
  auto& st = self->state;
  for (auto& id : st.core->on_start_due(ticket)) {
    auto* spec = st.spec(id);
    caf::actor child;
    std::string why = "start function returned no actor";
    try {
      child = spec->start(self);
    } catch (const std::exception& e) {
      why = e.what();
    }
    st.core->on_started(id, self->clock().now());
    if (!child) {
      log::error("supervisor " + st.path, "cannot start " + id + ": " + why);
      perform(self, st.core->on_exit(id, true, "start failed: " + why,
                                     self->clock().now(), wall(self)));
      continue;
    }
    self->monitor(child);
    st.handles[id] = child;
    st.ids[child.address()] = id;
    log::debug("supervisor " + st.path, "started " + id);
    emit(self, id, "started");
  }
}

void perform(self_ptr self, effects fx) {
  auto& st = self->state;
  auto who = "supervisor " + st.path;
  for (auto& rec : fx.records) {
    auto delay_ms = to_ms(rec.delay);
    log::warning(who, "restarting " + rec.child + " (restart " +
                          std::to_string(rec.count) + ", backoff " +
                          std::to_string(delay_ms) +
                          " ms) after: " + rec.reason);
    emit(self, rec.child, "restarted", rec.reason, rec.count, delay_ms);
  }
  if (fx.escalated && fx.finished)
    log::error(who, "giving up: " + *fx.finished);
  for (auto& id : fx.stop) {
    auto i = st.handles.find(id);
    if (i == st.handles.end())
      continue;
    self->send_exit(i->second, caf::exit_reason::user_shutdown);
    auto* c = st.core->find(id);
    self->delayed_send(self,
                       std::chrono::milliseconds(st.opts.shutdown_timeout_ms),
                       stop_tout_atom::value, id, c->incarnation);
  }
  if (fx.start) {
    if (fx.start->delay == duration::zero())
      start_children(self, fx.start->ticket);
    else
      self->delayed_send(self, fx.start->delay, start_atom::value,
                         fx.start->ticket);
  }
  if (fx.finished) {
    if (!fx.finished->empty()) {
      emit(self, "", "escalated", *fx.finished);
      self->quit(make_error(errc::restart_intensity, *fx.finished));
    } else {
      log::debug(who, "all children stopped");
      self->quit(st.exit_reason);
    }
  }
}

bool abnormal(const caf::error& reason) {
  return reason && reason != caf::exit_reason::normal &&
         reason != caf::exit_reason::user_shutdown;
}

/// A linked actor exited. Children are watched through monitors (CAF removes
/// the link when the supervisor itself sends the exit, so no exit_msg would
/// come back); here only a non-child matters: our parent is gone.
void on_linked_exit(self_ptr self, caf::exit_msg& msg) {
  auto& st = self->state;
  if (!st.parent || msg.source != st.parent.address())
    return; // a child (its down_msg follows) or a stale link
  st.exit_reason = msg.reason;
  perform(self, st.core->shutdown());
}

/// A monitored actor terminated: a child, or a subscriber of the event log.
void on_down(self_ptr self, caf::down_msg& msg) {
  auto& st = self->state;
  auto i = st.ids.find(msg.source);
  if (i == st.ids.end()) {
    forget(st.subscribers, msg.source);
    return;
  }
  auto id = i->second;
  st.ids.erase(i);
  st.handles.erase(id);
  auto bad = abnormal(msg.reason);
  auto reason = describe(msg.reason);
  if (bad)
    log::warning("supervisor " + st.path, id + " exited: " + reason);
  auto fx = st.core->on_exit(id, bad, reason, self->clock().now(), wall(self));
  if (auto* c = st.core->find(id); c != nullptr && fx.records.empty()) {
    if (c->state == child_state::failed)
      emit(self, id, "failed", reason);
    else if (c->state == child_state::stopped ||
             c->state == child_state::restarting)
      emit(self, id, "stopped", reason);
  }
  perform(self, std::move(fx));
}

/// Replies with this subtree, asking nested supervisors for theirs.
void reply_tree(self_ptr self, caf::response_promise rp) {
  auto& st = self->state;
  auto rows = std::make_shared<tree_rows>();
  auto now = self->clock().now();
  rows->push_back(tree_row{
      st.path, "supervisor", supervision::to_string(st.opts.policy.how), "",
      st.core->stopping() ? "stopping" : "running", 0, "", 0, 0});
  std::vector<caf::actor> nested;
  for (auto& c : st.core->children()) {
    tree_row row;
    row.path = st.path + "/" + c.id;
    auto* spec = st.spec(c.id);
    row.kind = spec->is_supervisor ? "supervisor" : "worker";
    row.restart = supervision::to_string(c.restart);
    row.state = supervision::to_string(c.state);
    row.restarts = c.restarts;
    row.last_reason = c.last_reason;
    row.last_failure_ms = c.last_failure;
    if (c.state == child_state::running)
      row.uptime_ms = to_ms(now - c.started_at);
    auto h = st.handles.find(c.id);
    if (spec->is_supervisor && h != st.handles.end())
      nested.push_back(h->second);
    rows->push_back(std::move(row));
  }
  if (nested.empty()) {
    rp.deliver(std::move(*rows));
    return;
  }
  auto pending = std::make_shared<size_t>(nested.size());
  for (auto& n : nested) {
    self->request(n, std::chrono::seconds(2), tree_atom::value)
        .then(
            [=](tree_rows& sub) mutable {
              // The first row is the nested supervisor's view of itself; ours
              // (with its restarts) is already in `rows`.
              if (!sub.empty())
                rows->insert(rows->end(), sub.begin() + 1, sub.end());
              if (--*pending == 0)
                rp.deliver(std::move(*rows));
            },
            [=](caf::error& err) mutable {
              rows->push_back(tree_row{"?", "supervisor", "", "",
                                       "unresponsive", 0, describe(err), 0, 0});
              if (--*pending == 0)
                rp.deliver(std::move(*rows));
            });
  }
}

/// Finds the child named by the first segment of `path`. Delivers an error
/// and returns nullptr when there is none.
const caf::actor* route(self_ptr self, const std::string& path,
                        caf::response_promise& rp, std::string& rest) {
  auto& st = self->state;
  auto slash = path.find('/');
  auto head = path.substr(0, slash);
  rest = slash == std::string::npos ? "" : path.substr(slash + 1);
  auto h = st.handles.find(head);
  if (h == st.handles.end()) {
    rp.deliver(make_error(errc::no_such_actor,
                          "no running actor " + st.path + "/" + head));
    return nullptr;
  }
  if (!rest.empty() && !st.spec(head)->is_supervisor) {
    rp.deliver(make_error(errc::no_such_actor,
                          st.path + "/" + head + " has no children"));
    return nullptr;
  }
  return &h->second;
}

/// Relays a request to `dest` and its answer (a string) back through `rp`.
template <class... Ts>
void relay(self_ptr self, const caf::actor& dest, caf::response_promise rp,
           Ts... xs) {
  self->request(dest, std::chrono::seconds(5), std::move(xs)...)
      .then([=](std::string& done) mutable { rp.deliver(std::move(done)); },
            [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Crashes the child at `path` (routing through nested supervisors).
void inject_crash(self_ptr self, const std::string& path,
                  caf::response_promise rp) {
  auto& st = self->state;
  if (!st.opts.allow_fault_injection) {
    rp.deliver(make_error(errc::refused,
                          "fault injection is disabled (set "
                          "allow_fault_injection in the node config)"));
    return;
  }
  std::string rest;
  auto* child = route(self, path, rp, rest);
  if (child == nullptr)
    return;
  if (!rest.empty()) {
    relay(self, *child, rp, crash_atom::value, rest);
    return;
  }
  auto full = st.path + "/" + path;
  log::warning("supervisor " + st.path, "injecting a crash into " + path);
  self->send_exit(
      *child, make_error(errc::fault_injected, "crash injected into " + full));
  rp.deliver("crashed " + full);
}

/// Asks the actor at `path` for its status document.
void child_status(self_ptr self, const std::string& path,
                  caf::response_promise rp) {
  std::string rest;
  auto* child = route(self, path, rp, rest);
  if (child == nullptr)
    return;
  if (rest.empty())
    relay(self, *child, rp, status_atom::value);
  else
    relay(self, *child, rp, status_atom::value, rest);
}

caf::behavior supervisor_impl(self_ptr self, supervisor_options opts,
                              caf::actor parent) {
  auto& st = self->state;
  if (!opts.wall_clock)
    opts.wall_clock = [] { return log::wall_now_ms(); };
  st.path = opts.name;
  st.core = std::make_unique<supervisor_core>(opts.policy, opts.seed);
  for (auto& c : opts.children)
    st.core->add_child(c.id, c.restart);
  st.opts = std::move(opts);
  st.parent = std::move(parent);
  self->set_exit_handler(
      [=](caf::exit_msg& msg) { on_linked_exit(self, msg); });
  self->set_down_handler([=](caf::down_msg& msg) { on_down(self, msg); });
  perform(self, st.core->start());
  return {
      [=](shutdown_atom) {
        log::debug("supervisor " + self->state.path, "shutting down");
        perform(self, self->state.core->shutdown());
      },
      [=](start_atom, uint64_t ticket) { start_children(self, ticket); },
      [=](stop_tout_atom, const std::string& id, uint64_t incarnation) {
        auto& st = self->state;
        auto* c = st.core->find(id);
        auto h = st.handles.find(id);
        if (c != nullptr && c->state == child_state::stopping &&
            c->incarnation == incarnation && h != st.handles.end()) {
          log::warning("supervisor " + st.path,
                       id + " did not stop in time; killing it");
          self->send_exit(h->second, caf::exit_reason::kill);
        }
      },
      [=](event_atom, health::supervision_event& ev) {
        publish(self, std::move(ev));
      },
      [=](subscribe_atom, const std::string& boot, uint64_t since) {
        auto& st = self->state;
        auto sub = caf::actor_cast<caf::actor>(self->current_sender());
        if (sub) {
          st.subscribers.push_back(sub);
          self->monitor(sub);
        }
        event_batch batch;
        batch.boot = st.opts.boot;
        for (auto& ev : st.log)
          if (boot != st.opts.boot || ev.seq > since)
            batch.events.push_back(ev);
        return batch;
      },
      [=](tree_atom) {
        auto rp = self->make_response_promise();
        reply_tree(self, rp);
        return rp;
      },
      [=](crash_atom, const std::string& path) {
        auto rp = self->make_response_promise();
        inject_crash(self, path, rp);
        return rp;
      },
      [=](status_atom, const std::string& path) {
        auto rp = self->make_response_promise();
        child_status(self, path, rp);
        return rp;
      },
  };
}

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_options opts) {
  return sys.spawn(supervisor_impl, std::move(opts), caf::actor{});
}

child_spec supervisor_child(std::string id, supervisor_options opts) {
  child_spec spec;
  spec.id = id;
  spec.is_supervisor = true;
  opts.name = id;
  spec.start = [opts](caf::event_based_actor* sup) mutable {
    auto parent = caf::actor_cast<caf::actor>(sup);
    auto sub = opts;
    // Paths nest: the parent's path is only known at spawn time.
    auto* parent_state =
        &static_cast<caf::stateful_actor<supervisor_state>*>(sup)->state;
    sub.name = parent_state->path + "/" + opts.name;
    if (!sub.wall_clock)
      sub.wall_clock = parent_state->opts.wall_clock;
    return sup->spawn<caf::linked>(supervisor_impl, std::move(sub), parent);
  };
  return spec;
}

void keep_exception_text(caf::scheduled_actor* self) {
  self->set_exception_handler([](caf::scheduled_actor*,
                                 std::exception_ptr& ptr) -> caf::error {
    try {
      std::rethrow_exception(ptr);
    } catch (const std::exception& e) {
      return caf::make_error(caf::sec::runtime_error, std::string{e.what()});
    } catch (...) {
      return caf::make_error(caf::sec::runtime_error,
                             std::string{"unknown exception"});
    }
  });
}

} // namespace mycelium::actors
