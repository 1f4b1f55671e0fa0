#include "mycelium/actors/console.hpp"

#include "mycelium/actors/worker_child.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/system/log.hpp"

#include <caf/all.hpp>

namespace mycelium::actors {

namespace {

struct console_state {
  static constexpr const char* name = "console";
  node_context_ptr ctx;
  uint64_t requests = 0;
  uint64_t failures = 0;
  metrics::counter* requests_total = nullptr;
};

using self_ptr = caf::stateful_actor<console_state>*;

constexpr auto deadline = std::chrono::seconds(5);

caf::actor lookup(self_ptr self, const char* name) {
  return registered(self->home_system(), name);
}

void answer(self_ptr self, uint64_t conn, const json& doc) {
  if (auto t = lookup(self, "transport"))
    self->send(t, console_atom::value, conn, doc.dump());
}

void answer_ok(self_ptr self, uint64_t conn, json result) {
  answer(self, conn, json{{"ok", true}, {"result", std::move(result)}});
}

void answer_error(self_ptr self, uint64_t conn, const caf::error& err) {
  ++self->state.failures;
  std::string code = "failed";
  if (err.category() == error_category)
    code = to_string(static_cast<errc>(err.code()));
  answer(self, conn,
         json{{"ok", false}, {"error", describe(err)}, {"code", code}});
}

void answer_error(self_ptr self, uint64_t conn, const std::string& code,
                  const std::string& text) {
  ++self->state.failures;
  answer(self, conn, json{{"ok", false}, {"error", text}, {"code", code}});
}

json parse_or_string(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return text;
  }
}

json rows_to_json(const tree_rows& rows) {
  auto out = json::array();
  for (auto& r : rows)
    out.push_back({{"path", r.path},
                   {"kind", r.kind},
                   {"strategy", r.strategy},
                   {"restart", r.restart},
                   {"state", r.state},
                   {"restarts", r.restarts},
                   {"last_reason", r.last_reason},
                   {"last_failure_ms", r.last_failure_ms},
                   {"uptime_ms", r.uptime_ms}});
  return out;
}

/// "node/health" and "health" both name the root's child "health".
std::string child_path(std::string path) {
  if (path.rfind("node/", 0) == 0)
    path = path.substr(5);
  return path;
}

/// Asks `dest` and answers the console with the string reply parsed as JSON.
template <class... Ts>
void relay_json(self_ptr self, uint64_t conn, const caf::actor& dest,
                Ts... xs) {
  if (!dest) {
    answer_error(self, conn, "no_such_actor", "that actor is not running");
    return;
  }
  self->request(dest, deadline, std::move(xs)...)
      .then(
          [=](std::string& text) {
            answer_ok(self, conn, parse_or_string(text));
          },
          [=](caf::error& err) { answer_error(self, conn, err); });
}

void handle(self_ptr self, uint64_t conn, const std::string& text) {
  ++self->state.requests;
  self->state.requests_total->inc();
  json req;
  try {
    req = json::parse(text);
  } catch (const json::exception& e) {
    answer_error(self, conn, "usage", std::string{"bad request: "} + e.what());
    return;
  }
  if (!req.is_object() || (req.contains("cmd") && !req["cmd"].is_string())) {
    answer_error(self, conn, "usage",
                 "bad request: expected an object with a string \"cmd\"");
    return;
  }
  auto cmd = req.value("cmd", std::string{});
  std::vector<std::string> args;
  if (req.contains("args") && req["args"].is_array())
    for (auto& a : req["args"])
      args.push_back(a.is_string() ? a.get<std::string>() : a.dump());
  auto root = lookup(self, "node");
  auto transport = lookup(self, "transport");
  log::debug("console", "request: " + cmd);
  if (cmd == "status") {
    if (!root) {
      answer_error(self, conn, "failed", "node supervisor not running");
      return;
    }
    self->request(root, deadline, status_atom::value, std::string{"health"})
        .then(
            [=](std::string& health) {
              auto doc = parse_or_string(health);
              doc["node_id"] = self->state.ctx->identity->node_id();
              if (!transport) {
                answer_ok(self, conn, doc);
                return;
              }
              self->request(transport, deadline, peers_atom::value)
                  .then(
                      [=](std::string& peers) mutable {
                        auto p = parse_or_string(peers);
                        int established = 0;
                        for (auto& c : p["connections"])
                          established += c["phase"] == "established";
                        doc["peers_connected"] = established;
                        answer_ok(self, conn, doc);
                      },
                      [=](caf::error&) mutable { answer_ok(self, conn, doc); });
            },
            [=](caf::error& err) { answer_error(self, conn, err); });
  } else if (cmd == "actors") {
    if (!root) {
      answer_error(self, conn, "failed", "node supervisor not running");
      return;
    }
    self->request(root, deadline, tree_atom::value)
        .then(
            [=](tree_rows& rows) { answer_ok(self, conn, rows_to_json(rows)); },
            [=](caf::error& err) { answer_error(self, conn, err); });
  } else if (cmd == "inspect" && args.size() == 1) {
    auto path = child_path(args[0]);
    if (path == "node" || path.empty()) {
      self->request(root, deadline, tree_atom::value)
          .then(
              [=](tree_rows& rows) {
                answer_ok(self, conn, rows_to_json(rows));
              },
              [=](caf::error& err) { answer_error(self, conn, err); });
    } else {
      relay_json(self, conn, root, status_atom::value, path);
    }
  } else if (cmd == "members") {
    relay_json(self, conn, lookup(self, "membership"), members_atom::value);
  } else if (cmd == "spores" && args.empty()) {
    relay_json(self, conn, lookup(self, "spores"), spores_atom::value);
  } else if (cmd == "spore" && args.size() == 1) {
    relay_json(self, conn, lookup(self, "spores"), spore_atom::value, args[0]);
  } else if (cmd == "db" && !args.empty()) {
    relay_json(self, conn, lookup(self, "gdb"), db_atom::value,
               json(args).dump());
  } else if (cmd == "service") {
    relay_json(self, conn, lookup(self, "services"), service_atom::value,
               json(args).dump());
  } else if (cmd == "isolation") {
    relay_json(self, conn, lookup(self, "isolation"), isolation_atom::value,
               json(args).dump());
  } else if (cmd == "health" && args.empty()) {
    relay_json(self, conn, root, status_atom::value, std::string{"health"});
  } else if (cmd == "metrics" && args.empty()) {
    auto& reg = *self->state.ctx->metrics;
    json samples = json::array();
    for (auto& smp : reg.samples()) {
      json labels = json::object();
      for (auto& [k, v] : smp.labels)
        labels[k] = v;
      samples.push_back(
          {{"name", smp.name}, {"labels", labels}, {"value", smp.value}});
    }
    answer_ok(self, conn,
              json{{"series", reg.series()},
                   {"listen", self->state.ctx->cfg.metrics.listen},
                   {"samples", samples},
                   {"text", reg.render()}});
  } else if (cmd == "alerts" || cmd == "ack" || cmd == "silence" ||
             cmd == "unsilence") {
    json a = json::array();
    a.push_back(cmd == "alerts" ? "list" : cmd == "unsilence" ? "expire" : cmd);
    for (auto& x : args)
      a.push_back(x);
    relay_json(self, conn, lookup(self, "alerting"), alerts_atom::value,
               a.dump());
  } else if (cmd == "peers") {
    relay_json(self, conn, transport, peers_atom::value);
  } else if (cmd == "kill" && args.size() == 1) {
    if (!self->state.ctx->cfg.allow_fault_injection) {
      answer_error(self, conn, "refused",
                   "fault injection is disabled (set allow_fault_injection "
                   "in the node config)");
      return;
    }
    relay_json(self, conn, root, crash_atom::value, child_path(args[0]));
  } else if (cmd == "ping" && args.size() == 1) {
    relay_json(self, conn, transport, ping_atom::value, args[0]);
  } else if (cmd == "fault" && args.size() == 1) {
    relay_json(self, conn, transport, fault_atom::value, args[0]);
  } else {
    answer_error(self, conn, "usage",
                 "unknown command or wrong arguments: '" + cmd + "'");
  }
}

caf::behavior console_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  self->state.ctx = std::move(ctx);
  self->state.requests_total = &self->state.ctx->metrics->get_counter(
      "mycelium_console_requests_total", "Console requests received.");
  register_as(self->home_system(), "console",
              caf::actor_cast<caf::actor>(self));
  return {
      [=](console_atom, uint64_t conn, const std::string& text) {
        handle(self, conn, text);
      },
      [=](status_atom) {
        return json{{"requests", self->state.requests},
                    {"failures", self->state.failures}}
            .dump();
      },
  };
}

} // namespace

child_spec console_child(node_context_ptr ctx) {
  return worker_child("console", console_impl, std::move(ctx));
}

} // namespace mycelium::actors
