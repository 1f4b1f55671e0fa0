#include "mycelium/actors/alerting.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/store_failures.hpp"
#include "mycelium/actors/worker_child.hpp"
#include "mycelium/alerting/alert_core.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/store/state_store.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/system/process.hpp"

#include <caf/all.hpp>
#include <httplib.h>

#include <fstream>
#include <optional>
#include <thread>

namespace mycelium::actors {

namespace {

using alerting::alert_core;

struct alerting_state {
  static constexpr const char* name = "alerting";
  node_context_ptr ctx;
  std::unique_ptr<alert_core> core;
  std::optional<store::state_store> store;
  std::map<std::string, config::channel_config> channels;
  store_failures failures{"alerting"};
};

using self_ptr = caf::stateful_actor<alerting_state>*;

json labels_json(const metrics::label_set& l) {
  json o = json::object();
  for (auto& [k, v] : l)
    o[k] = v;
  return o;
}

json alert_json(const alerting::alert& a) {
  return {{"id", a.id},
          {"alertname", a.label("alertname")},
          {"severity", a.label("severity")},
          {"state", a.state},
          {"labels", labels_json(a.labels)},
          {"summary", a.summary},
          {"value", a.value},
          {"active_since_ms", a.active_since},
          {"fired_at_ms", a.fired_at},
          {"resolved_at_ms", a.resolved_at},
          {"acked", a.acked},
          {"escalated", a.escalated},
          {"inhibited", a.inhibited},
          {"silenced", a.silenced}};
}

/// The JSON document every channel receives.
json notification_json(self_ptr self, const alerting::notification& n) {
  json alerts = json::array();
  for (auto& a : n.alerts)
    alerts.push_back(alert_json(a));
  return {{"node", self->state.ctx->cfg.name},
          {"node_id", self->state.ctx->identity->node_id()},
          {"channel", n.channel},
          {"status", n.status},
          {"group_key", n.group_key},
          {"group_labels", labels_json(n.group_labels)},
          {"escalation", n.escalation},
          {"sent_ms", self->state.ctx->wall_clock()},
          {"alerts", alerts}};
}

/// POSTs `body` to an http:// URL; "" or what failed.
std::string post_webhook(const std::string& url, const std::string& body,
                         int64_t timeout_ms) {
  auto rest = url.substr(7); // after "http://"
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  auto path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto ep = config::parse_endpoint(hostport);
  if (!ep)
    return ep.err().message();
  std::string last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
    httplib::Client cli(ep->host, ep->port);
    auto secs = static_cast<time_t>(timeout_ms / 1000);
    auto usecs = static_cast<time_t>((timeout_ms % 1000) * 1000);
    cli.set_connection_timeout(secs, usecs);
    cli.set_read_timeout(secs, usecs);
    cli.set_write_timeout(secs, usecs);
    auto res = cli.Post(path.c_str(), body, "application/json");
    if (res && res->status >= 200 && res->status < 300)
      return {};
    last = res ? "HTTP status " + std::to_string(res->status)
               : "request failed: " + httplib::to_string(res.error());
  }
  return url + ": " + last + " (3 attempts)";
}

/// A detached worker: one blocking delivery, then a report.
caf::behavior deliver_worker(caf::event_based_actor* self, caf::actor parent,
                             config::channel_config ch, std::string body) {
  std::string err =
      ch.type == "webhook"
          ? post_webhook(ch.target, body, ch.timeout_ms)
          : system::run_with_input(ch.command, body + "\n", ch.timeout_ms);
  self->send(parent, notified_atom::value, ch.name, err);
  self->quit();
  return {};
}

metrics::counter& deliveries(const node_context& ctx,
                             const std::string& channel, const char* result) {
  return ctx.metrics->get_counter(
      "mycelium_alert_notifications_total",
      "Notifications handed to channels, by result.",
      {{"channel", channel}, {"result", result}});
}

void count_delivery(self_ptr self, const std::string& channel,
                    const std::string& err) {
  deliveries(*self->state.ctx, channel, err.empty() ? "ok" : "failed").inc();
  if (!err.empty())
    log::warning("alerting", "notification to " + channel + " failed: " + err);
}

void deliver(self_ptr self, const alerting::notification& n) {
  auto& st = self->state;
  auto it = st.channels.find(n.channel);
  if (it == st.channels.end()) {
    count_delivery(self, n.channel, "no such channel");
    return;
  }
  auto& ch = it->second;
  auto doc = notification_json(self, n);
  if (ch.type == "log") {
    for (auto& a : n.alerts) {
      auto line = std::string{n.escalation ? "ESCALATED " : ""} + "[" +
                  (a.state == "resolved" ? "resolved" : "firing") + "] " +
                  a.label("alertname") + " " + a.id + " " +
                  metrics::series_name("", a.labels) +
                  (a.summary.empty() ? "" : ": " + a.summary);
      (a.state == "resolved" ? log::info : log::warning)("alerting", line);
    }
    count_delivery(self, ch.name, "");
  } else if (ch.type == "file") {
    std::ofstream out{ch.target, std::ios::app};
    out << doc.dump() << '\n';
    out.flush();
    count_delivery(self, ch.name, out ? "" : "cannot append to " + ch.target);
  } else {
    self->spawn<caf::detached>(
        deliver_worker, caf::actor_cast<caf::actor>(self), ch, doc.dump());
  }
}

/// Saves the whole alert state. Unsaved (full disk), alerting goes on from
/// memory, and every evaluation tries again until a save succeeds: during
/// a disk incident notifications matter more than never sending one twice.
bool persist(self_ptr self) {
  auto& st = self->state;
  auto saved = st.store->save("alerts", "state", st.core->save());
  return st.failures.record(*st.ctx, "the alert state",
                            saved ? "" : saved.err().to_string());
}

void evaluate(self_ptr self) {
  auto& st = self->state;
  auto now = st.ctx->wall_clock();
  auto fx = st.core->evaluate(st.ctx->metrics->samples(), now);
  // Persist before notifying: after a crash, nothing is sent twice.
  if (fx.changed || st.failures.failing())
    persist(self);
  for (auto& n : fx.notify)
    deliver(self, n);
  std::map<std::string, int> by_state{
      {"pending", 0}, {"firing", 0}, {"resolved", 0}};
  for (auto& [id, a] : st.core->alerts())
    ++by_state[a.state];
  for (auto& [state, n] : by_state)
    st.ctx->metrics
        ->get_gauge("mycelium_alerts", "Alerts by state.", {{"state", state}})
        .set(n);
}

std::string render(self_ptr self) {
  auto& st = self->state;
  json alerts = json::array();
  for (auto& [id, a] : st.core->alerts())
    alerts.push_back(alert_json(a));
  json silences = json::array();
  for (auto& s : st.core->silences())
    silences.push_back({{"id", s.id},
                        {"matchers", alerting::to_string(s.matchers)},
                        {"until_ms", s.until_ms},
                        {"comment", s.comment}});
  return json{{"alerts", alerts}, {"silences", silences}}.dump();
}

caf::result<std::string> command(self_ptr self, const std::string& args_json) {
  auto& st = self->state;
  auto a = command_words(args_json);
  auto now = st.ctx->wall_clock();
  if (a.empty() || (a[0] == "list" && a.size() == 1))
    return render(self);
  if (a[0] == "ack" && a.size() == 2) {
    // An id or a unique prefix of one.
    std::string found;
    for (auto& [id, al] : st.core->alerts())
      if (id.rfind(a[1], 0) == 0) {
        if (!found.empty())
          return make_error(errc::bad_request,
                            "alert id prefix '" + a[1] + "' is ambiguous");
        found = id;
      }
    if (found.empty())
      return make_error(errc::not_found, "no alert '" + a[1] + "'");
    (void)st.core->ack(found, now);
    auto saved = persist(self);
    log::info("alerting", "alert " + found + " acknowledged");
    return json{{"acked", found}, {"persisted", saved}}.dump();
  }
  if (a[0] == "silence" && (a.size() == 3 || a.size() == 4)) {
    auto m = alerting::parse_matchers(a[1]);
    if (!m)
      return make_error(errc::bad_request, m.err().message());
    auto d = alerting::parse_duration_ms(a[2]);
    if (!d)
      return make_error(errc::bad_request, d.err().message());
    auto id = st.core->add_silence(*m, now, *d, a.size() == 4 ? a[3] : "");
    auto saved = persist(self);
    log::info("alerting", "silence " + id + " for " + a[1] + " until +" + a[2]);
    return json{{"silence", id}, {"until_ms", now + *d}, {"persisted", saved}}
        .dump();
  }
  if (a[0] == "expire" && a.size() == 2) {
    if (!st.core->expire_silence(a[1]))
      return make_error(errc::not_found, "no silence '" + a[1] + "'");
    auto saved = persist(self);
    return json{{"expired", a[1]}, {"persisted", saved}}.dump();
  }
  return make_error(errc::bad_request,
                    "usage: alerts | ack ID | silence MATCHERS DURATION "
                    "[COMMENT] | expire SILENCE_ID");
}

caf::behavior alerting_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  // Every channel's series exist (at 0) from the start: a scrape before
  // the first notification still shows the family.
  for (auto& c : ctx->cfg.alerting.channels) {
    st.channels[c.name] = c;
    for (auto result : {"ok", "failed"})
      deliveries(*ctx, c.name, result);
  }
  st.core = std::make_unique<alert_core>(ctx->cfg.alerting.rules);
  auto store = store::state_store::open(ctx->db);
  if (!started_ok(self, store))
    return {};
  st.store = std::move(*store);
  auto saved = st.store->load("alerts", "state");
  if (!started_ok(self, saved))
    return {};
  if (saved->has_value()) {
    auto loaded = st.core->load((*saved)->value);
    if (!loaded) {
      // Keep the damaged state for inspection and alert from scratch:
      // a node without alerting is worse than one that forgot old alerts.
      auto key = "state.damaged." + std::to_string(ctx->wall_clock());
      (void)st.store->save("alerts", key, (*saved)->value);
      log::error("alerting", "stored alert state is damaged (" +
                                 loaded.err().message() + "); kept as '" + key +
                                 "', starting with no alerts");
    }
  }
  register_as(self->home_system(), "alerting",
              caf::actor_cast<caf::actor>(self));
  log::info("alerting",
            std::to_string(st.core->alerts().size()) + " alerts restored, " +
                std::to_string(ctx->cfg.alerting.rules.rules.size() +
                               ctx->cfg.alerting.rules.anomalies.size()) +
                " rules");
  auto interval = std::chrono::milliseconds(ctx->cfg.alerting.eval_interval_ms);
  self->send(self, tick_atom::value);
  return {
      [=](tick_atom) {
        evaluate(self);
        self->delayed_send(self, interval, tick_atom::value);
      },
      [=](notified_atom, const std::string& channel, const std::string& err) {
        count_delivery(self, channel, err);
      },
      [=](alerts_atom, const std::string& args) { return command(self, args); },
      [=](status_atom) { return render(self); },
  };
}

} // namespace

child_spec alerting_child(node_context_ptr ctx) {
  return worker_child("alerting", alerting_impl, std::move(ctx));
}

} // namespace mycelium::actors
