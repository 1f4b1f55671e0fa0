#include "mycelium/actors/services.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/worker_child.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/services/instance_queue.hpp"
#include "mycelium/services/service_core.hpp"
#include "mycelium/system/log.hpp"

#include <caf/all.hpp>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>

namespace mycelium::actors {

namespace {

using services::instance;

// -- merge-strategy registry
// ---------------------------------------------------

std::mutex strategies_mtx;
std::map<std::pair<const caf::actor_system*, std::string>, caf::actor>
    strategies;

/// A strategy shipped with the runtime: the pure merge function of its
/// name, for services of `kind`.
caf::behavior shipped_strategy(caf::event_based_actor*, std::string name,
                               std::string kind) {
  return {
      [=](merge_atom, const std::string&, const std::string& winner_record,
          const std::string& loser_record) -> caf::result<std::string> {
        auto w = services::decode(winner_record);
        auto l = services::decode(loser_record);
        if (!w || !l)
          return make_error(errc::bad_request,
                            (!w ? w.err() : l.err()).message());
        auto base = services::common_ancestor(kind, *w, *l);
        auto merged = name == "counter-sum"
                          ? services::merge_counter_sum(*w, *l, base)
                          : services::merge_kv_union(*w, *l, base);
        if (!merged)
          return make_error(errc::bad_request, merged.err().message());
        return *merged;
      },
  };
}

// -- the manager
// ---------------------------------------------------------------

/// One job for a local instance: an operation from the console, or a
/// merge of a split's loser. Jobs of an instance run one at a time, each
/// persisted before it is answered, so a failed write rolls back nothing
/// but itself.
using services::job;

/// A local instance: its record as persisted and its jobs (the rules are
/// the core's `instance_queue`).
struct hosted {
  services::instance_queue q;
};

struct services_state {
  static constexpr const char* name = "services";
  node_context_ptr ctx;
  std::unique_ptr<services::placement_core> core;
  caf::actor membership;
  /// Member id -> last state membership reported.
  std::map<std::string, membership::state> members;
  /// Callers of queued calls, by the ticket their job carries.
  std::map<uint64_t, caf::typed_response_promise<std::string>> callers;
  uint64_t next_ticket = 0;
  /// Local instances by id.
  std::map<std::string, hosted> running;
  /// Local instances terminated (never resumed from a stale record).
  std::set<std::string> terminated;
  /// Every record at the last reading of the Global Database.
  std::vector<instance> records;
  bool reading = false;
  /// Services being started, losers being merged.
  std::set<std::string> starting;
  std::set<std::string> merging;
  /// Local instances with a freeze or unfreeze under way.
  std::set<std::string> freezing;
  /// Problems logged once until they clear.
  std::set<std::string> warned;
  std::vector<caf::actor> shipped;
  /// Wall time the actor started (for services.settle_ms).
  int64_t started_ms = 0;
  /// Makes instance ids unique even within one millisecond.
  uint64_t seq = 0;
  metrics::gauge* instances = nullptr;
};

using self_ptr = caf::stateful_actor<services_state>*;

std::string short_id(const std::string& id) {
  return id.substr(0, 8);
}

metrics::counter& ops_counter(const node_context& ctx,
                              const std::string& service) {
  return ctx.metrics->get_counter(
      "mycelium_service_ops_total",
      "Operations that changed a service's state on this node.",
      {{"service", service}});
}

metrics::counter& splits_counter(const node_context& ctx,
                                 const std::string& service,
                                 const char* outcome) {
  return ctx.metrics->get_counter(
      "mycelium_service_splits_total",
      "Split instances resolved on this node (terminated or merged).",
      {{"service", service}, {"outcome", outcome}});
}

void warn_once(self_ptr self, const std::string& key, const std::string& what) {
  if (self->state.warned.insert(key).second)
    log::warning("services", what);
}

/// A typed Global Database request (put_atom, del_atom, scan_atom ...);
/// `ok` gets the answer, `failed` the cause.
template <class Ok, class Failed, class... Ts>
void db(self_ptr self, Ok ok, Failed failed, Ts&&... request) {
  auto gdb = registered(self->home_system(), "gdb");
  if (!gdb) {
    failed(std::string{"the Global Database is not running"});
    return;
  }
  self->request(gdb, std::chrono::seconds(5), std::forward<Ts>(request)...)
      .then(ok, [=](caf::error& err) mutable { failed(describe(err)); });
}

/// Persists `rec` as its record; `ok()` once it is stored.
template <class Ok, class Failed>
void put_record(self_ptr self, const instance& rec, Ok ok, Failed failed) {
  db(
      self, [=](bool) mutable { ok(); }, failed, put_atom::value,
      services::record_key(rec), encode(rec));
}

/// Removes a record; a failure goes to `failed`.
template <class Failed>
void del_record(self_ptr self, const std::string& key, Failed failed) {
  db(
      self, [](bool) {}, failed, del_atom::value, key);
}

std::set<std::string> live_nodes(self_ptr self) {
  std::set<std::string> live{self->state.ctx->identity->node_id()};
  for (auto& [id, state] : self->state.members)
    if (member_reachable(state))
      live.insert(id);
  return live;
}

/// The records, with local instances as this node holds them.
std::vector<instance> current_records(self_ptr self) {
  auto& st = self->state;
  std::vector<instance> out;
  for (auto& r : st.records)
    if (st.running.count(r.id) == 0 && st.terminated.count(r.id) == 0)
      out.push_back(r);
  for (auto& [id, h] : st.running)
    out.push_back(h.q.record());
  return out;
}

void export_count(self_ptr self) {
  self->state.instances->set(static_cast<double>(self->state.running.size()));
}

void run_jobs(self_ptr self, const std::string& id);

/// Answers (or refuses) the caller of a call job.
void answer_caller(self_ptr self, const job& j, caf::error err,
                   const std::string& doc) {
  auto& callers = self->state.callers;
  auto c = callers.find(j.ticket);
  if (c == callers.end())
    return;
  if (err)
    c->second.deliver(std::move(err));
  else
    c->second.deliver(doc);
  callers.erase(c);
}

std::string call_answer(self_ptr self, const instance& rec,
                        const std::string& answer) {
  return json{{"service", rec.service},
              {"instance", rec.id},
              {"host", self->state.ctx->cfg.name},
              {"answer", answer},
              {"ops", rec.ops}}
      .dump();
}

/// The job of a write is done (stored): log, count, answer.
void finished(self_ptr self, const instance& next, const job& j,
              const std::string& answer) {
  auto& st = self->state;
  switch (j.what) {
  case job::type::freeze:
  case job::type::unfreeze:
    st.freezing.erase(next.id);
    log::info("services", next.service + ": instance " + next.id +
                              (next.frozen ? " frozen: its final state "
                                             "goes to the split's merge"
                                           : " takes operations again"));
    break;
  case job::type::merge:
    st.merging.erase(j.loser->id);
    splits_counter(*st.ctx, next.service, "merged").inc();
    log::warning("services", next.service + ": split resolved: " + j.loser->id +
                                 " on " + j.loser->host_name + " merged into " +
                                 next.id);
    break;
  case job::type::call:
    ops_counter(*st.ctx, next.service).inc();
    answer_caller(self, j, {}, call_answer(self, next, answer));
    break;
  }
}

/// The job of instance `id` whose write is not done (refused by the store,
/// or the instance went meanwhile).
void not_done(self_ptr self, const std::string& id, const job& j,
              const std::string& why) {
  auto& st = self->state;
  switch (j.what) {
  case job::type::merge:
    st.merging.erase(j.loser->id);
    break;
  case job::type::call:
    answer_caller(self, j, make_error(errc::refused, why), "");
    break;
  case job::type::freeze:
  case job::type::unfreeze:
    st.freezing.erase(id);
    break;
  }
}

/// Performs the instance's steps until it waits for a write or has none.
void run_jobs(self_ptr self, const std::string& id) {
  for (;;) {
    auto it = self->state.running.find(id);
    if (it == self->state.running.end())
      return;
    auto s = it->second.q.next(self->state.ctx->wall_clock());
    switch (s.what) {
    case services::step::type::idle:
      return;
    case services::step::type::answer:
      answer_caller(self, s.j, {},
                    call_answer(self, it->second.q.record(), s.answer));
      continue;
    case services::step::type::refuse:
      answer_caller(
          self, s.j,
          make_error(s.bad_request ? errc::bad_request : errc::refused,
                     s.error),
          "");
      continue;
    case services::step::type::drop:
      self->state.merging.erase(s.j.loser->id);
      continue;
    case services::step::type::write:
      break;
    }
    put_record(
        self, s.next,
        [=]() {
          auto it = self->state.running.find(id);
          if (it == self->state.running.end()) {
            not_done(self, id, s.j, "the instance was terminated meanwhile");
            return;
          }
          it->second.q.persisted(s.next);
          finished(self, s.next, s.j, s.answer);
          run_jobs(self, id);
        },
        [=](const std::string& err) {
          not_done(self, id, s.j, "not applied: " + err);
          auto it = self->state.running.find(id);
          if (it != self->state.running.end()) {
            it->second.q.failed();
            run_jobs(self, id);
          }
        });
    return;
  }
}

void start(self_ptr self, const services::effects::start& s) {
  auto& st = self->state;
  auto* spec = st.core->spec(s.service);
  if (spec == nullptr || !st.starting.insert(s.service).second)
    return;
  auto now = st.ctx->wall_clock();
  auto i = services::new_instance(
      *spec, s.from,
      short_id(st.ctx->identity->node_id()) + "-" + std::to_string(now) + "-" +
          std::to_string(++st.seq),
      st.ctx->identity->node_id(), st.ctx->cfg.name, now);
  auto kind = spec->kind;
  put_record(
      self, i,
      [=]() {
        auto& st = self->state;
        st.starting.erase(i.service);
        st.warned.erase("start/" + i.service);
        st.running.emplace(i.id, hosted{services::instance_queue{i, kind}});
        export_count(self);
        log::info("services",
                  i.service + ": started instance " + i.id +
                      (i.lineage.empty()
                           ? std::string{" (fresh)"}
                           : " from " + i.forked_from() + " on " +
                                 s.from->host_name + " (unreachable), " +
                                 std::to_string(i.ops) + " ops"));
      },
      [=](const std::string& err) {
        self->state.starting.erase(i.service);
        warn_once(self, "start/" + i.service,
                  i.service + ": cannot start an instance: " + err);
      });
}

void terminate(self_ptr self, const services::effects::terminate& t) {
  auto& st = self->state;
  auto it = st.running.find(t.id);
  if (it == st.running.end())
    return;
  auto key = services::record_key(it->second.q.record());
  for (auto& j : it->second.q.drain())
    if (j.what == job::type::call)
      answer_caller(self, j,
                    make_error(errc::refused, "terminated: " + t.reason), "");
  st.running.erase(it);
  st.terminated.insert(t.id);
  export_count(self);
  splits_counter(*st.ctx, t.service, "terminated").inc();
  log::warning("services",
               t.service + ": terminated instance " + t.id + ": " + t.reason);
  // Cleanup: the record goes (a failure leaves it for the next reading,
  // where the decision is the same).
  del_record(self, key, [=](const std::string& err) {
    log::warning("services", "cannot remove " + key + ": " + err);
  });
}

void merge(self_ptr self, const services::effects::merge& m) {
  auto& st = self->state;
  if (st.running.count(m.winner) == 0 || st.merging.count(m.loser.id) != 0)
    return;
  auto strategy = merge_strategy(self->home_system(), m.strategy);
  if (!strategy) {
    warn_once(self, "strategy/" + m.strategy + "/" + m.service,
              m.service + ": no merge strategy actor '" + m.strategy +
                  "' is registered; the split with " + m.loser.id +
                  " stays unresolved");
    return;
  }
  st.merging.insert(m.loser.id);
  auto winner = m.winner;
  auto loser = m.loser;
  auto at_ops = st.running.at(m.winner).q.record().ops;
  self->request(strategy, std::chrono::seconds(10), merge_atom::value,
                m.service, encode(st.running.at(m.winner).q.record()),
                encode(m.loser))
      .then(
          [=](std::string& merged) {
            auto& st = self->state;
            auto it = st.running.find(winner);
            auto state = services::merged_state(merged);
            if (it == st.running.end() || !state) {
              st.merging.erase(loser.id);
              if (!state)
                warn_once(self, "bad-merge/" + loser.id,
                          loser.service + ": " + state.err().message());
              return;
            }
            job j;
            j.what = job::type::merge;
            j.loser = loser;
            j.merged_state = *state;
            j.merged_at_ops = at_ops;
            it->second.q.push(std::move(j));
            run_jobs(self, winner);
          },
          [=](caf::error& err) {
            self->state.merging.erase(loser.id);
            warn_once(self, "merge-failed/" + loser.id,
                      loser.service +
                          ": merge strategy failed: " + describe(err));
          });
}

void decide(self_ptr self) {
  auto& st = self->state;
  services::view v;
  v.live = live_nodes(self);
  v.records = current_records(self);
  for (auto& [id, h] : st.running)
    v.running.insert(id);
  v.may_start =
      st.ctx->wall_clock() - st.started_ms >= st.ctx->cfg.services.settle_ms;
  auto fx = st.core->decide(v);
  for (auto& t : fx.terminations)
    terminate(self, t);
  for (auto& m : fx.merges)
    merge(self, m);
  for (auto& f : fx.freezes) {
    auto it = st.running.find(f.id);
    if (it == st.running.end() || !st.freezing.insert(f.id).second)
      continue;
    job j;
    j.what = f.on ? job::type::freeze : job::type::unfreeze;
    it->second.q.push(std::move(j));
    run_jobs(self, f.id);
  }
  for (auto& s : fx.starts)
    start(self, s);
  for (auto& key : fx.stale_records)
    del_record(self, key, [](const std::string&) {});
}

/// Takes the records just read: resumes this node's own instances (state
/// recovery after a restart), then decides.
void take_records(self_ptr self, std::vector<instance> recs) {
  auto& st = self->state;
  st.reading = false;
  st.records = std::move(recs);
  auto me = st.ctx->identity->node_id();
  for (auto& r : st.records) {
    auto* spec = st.core->spec(r.service);
    if (r.host != me || spec == nullptr || st.running.count(r.id) != 0 ||
        st.terminated.count(r.id) != 0)
      continue;
    st.running.emplace(r.id, hosted{services::instance_queue{r, spec->kind}});
    log::info("services", r.service + ": resumed instance " + r.id +
                              " from its record (" + std::to_string(r.ops) +
                              " ops)");
  }
  export_count(self);
  decide(self);
}

/// Reads every record from the Global Database.
void read_records(self_ptr self) {
  // Until the Global Database runs (it starts just before), the next tick.
  if (self->state.reading || !registered(self->home_system(), "gdb"))
    return;
  self->state.reading = true;
  auto done = [=](const std::string& err) {
    self->state.reading = false;
    warn_once(self, "read", "cannot read the service records: " + err);
  };
  db(
      self,
      [=](const gdb_rows& rows) {
        self->state.warned.erase("read");
        std::vector<instance> recs;
        // Anyone may write under svc/ with `db put`: a value that is not a
        // record is ignored with a warning, never thrown on.
        for (auto& [key, type] : rows.others)
          warn_once(self, "bad/" + key,
                    "ignoring " + key + ": a " + type +
                        " value, not a service record");
        for (auto& [key, text] : rows.texts) {
          auto rec = services::decode(text);
          if (rec)
            recs.push_back(std::move(*rec));
          else
            warn_once(self, "bad/" + key,
                      "ignoring " + key + ": " + rec.err().message());
        }
        take_records(self, std::move(recs));
      },
      done, scan_atom::value, std::string{services::record_prefix});
}

/// A state as JSON for the console (its text if it does not parse).
json state_json(const std::string& text) {
  auto doc = json::parse(text, nullptr, false);
  return doc.is_discarded() ? json(text) : doc;
}

json render(self_ptr self) {
  auto& st = self->state;
  auto live = live_nodes(self);
  auto recs = current_records(self);
  json list = json::array();
  for (auto& spec : st.core->specs()) {
    json instances = json::array();
    for (auto& r : recs) {
      if (r.service != spec.name)
        continue;
      instances.push_back({{"id", r.id},
                           {"host", r.host},
                           {"host_name", r.host_name},
                           {"here", st.running.count(r.id) != 0},
                           {"reachable", live.count(r.host) != 0},
                           {"ops", r.ops},
                           {"data_bytes", r.data_bytes},
                           {"started_ms", r.started_ms},
                           {"last_write_ms", r.last_write_ms},
                           {"forked_from", r.forked_from()},
                           {"absorbed", r.absorbed},
                           {"state", state_json(r.state)}});
    }
    list.push_back({{"name", spec.name},
                    {"kind", spec.kind},
                    {"merge", spec.merge},
                    {"owner", short_id(services::owner(spec.name, live))},
                    {"instances", instances}});
  }
  return {{"services", list}};
}

caf::result<std::string> command(self_ptr self, const std::string& args_json) {
  auto& st = self->state;
  auto a = command_words(args_json);
  if (a.empty() || (a.size() == 1 && a[0] == "list"))
    return render(self).dump();
  if (a[0] != "call" || a.size() < 3)
    return make_error(errc::bad_request,
                      "usage: service list | call SERVICE OP [ARGS...]");
  auto* spec = st.core->spec(a[1]);
  if (spec == nullptr)
    return make_error(errc::not_found,
                      "no service '" + a[1] + "' is configured on this node");
  for (auto& [id, h] : st.running) {
    if (h.q.record().service != a[1])
      continue;
    auto rp = self->make_response_promise<std::string>();
    job j;
    j.ticket = ++st.next_ticket;
    j.op.assign(a.begin() + 2, a.end());
    st.callers.emplace(j.ticket, rp);
    h.q.push(std::move(j));
    run_jobs(self, id);
    return rp;
  }
  // Not here: name where it runs.
  auto live = live_nodes(self);
  std::string where;
  for (auto& r : current_records(self))
    if (r.service == a[1] && live.count(r.host) != 0)
      where += (where.empty() ? "" : ", ") + r.host_name + " (" + r.id + ")";
  return make_error(errc::not_found,
                    "service '" + a[1] + "' does not run on this node" +
                        (where.empty() ? std::string{"; no reachable "
                                                     "instance yet"}
                                       : "; it runs on " + where));
}

caf::behavior services_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  st.started_ms = ctx->wall_clock();
  st.core = std::make_unique<services::placement_core>(
      ctx->identity->node_id(), ctx->cfg.services.hosted);
  st.instances = &ctx->metrics->get_gauge(
      "mycelium_service_instances", "Service instances running on this node.");
  for (auto& s : ctx->cfg.services.hosted) {
    ops_counter(*ctx, s.name);
    splits_counter(*ctx, s.name, "terminated");
    splits_counter(*ctx, s.name, "merged");
  }
  // The strategies that ship with the runtime live as long as this actor.
  for (auto [name, kind] :
       {std::pair{"counter-sum", "counter"}, std::pair{"kv-union", "kv"}}) {
    auto a = self->spawn<caf::linked>(shipped_strategy, std::string{name},
                                      std::string{kind});
    register_merge_strategy(self->home_system(), name, a);
    st.shipped.push_back(a);
  }
  register_as(self->home_system(), "services",
              caf::actor_cast<caf::actor>(self));
  log::info("services", std::to_string(ctx->cfg.services.hosted.size()) +
                            " services configured");
  auto tick = std::chrono::milliseconds(ctx->cfg.services.tick_ms);
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        follow(self, self->state.membership, "membership");
        if (!self->state.core->specs().empty())
          read_records(self);
        self->delayed_send(self, tick, tick_atom::value);
      },
      [=](member_atom, const membership::event& ev) {
        if (!ev.member.id.empty())
          self->state.members[ev.member.id] = ev.member.st;
      },
      [=](service_atom, const std::string& args) {
        return command(self, args);
      },
      [=](status_atom) { return render(self).dump(); },
  };
}

} // namespace

child_spec services_child(node_context_ptr ctx) {
  return worker_child("services", services_impl, std::move(ctx));
}

void register_merge_strategy(caf::actor_system& sys, const std::string& name,
                             caf::actor strategy) {
  std::lock_guard<std::mutex> guard{strategies_mtx};
  strategies[{&sys, name}] = std::move(strategy);
}

caf::actor merge_strategy(caf::actor_system& sys, const std::string& name) {
  std::lock_guard<std::mutex> guard{strategies_mtx};
  auto it = strategies.find({&sys, name});
  return it == strategies.end() ? caf::actor{} : it->second;
}

} // namespace mycelium::actors
