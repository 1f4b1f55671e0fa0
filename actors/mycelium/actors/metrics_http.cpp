#include "mycelium/actors/metrics_http.hpp"

#include "mycelium/actors/messages.hpp"
#include "mycelium/actors/worker_child.hpp"
#include "mycelium/json/json.hpp"
#include "mycelium/system/log.hpp"
#include "mycelium/system/metrics_endpoint.hpp"

#include <caf/all.hpp>

namespace mycelium::actors {

namespace {

struct metrics_http_state {
  static constexpr const char* name = "metrics";
  node_context_ptr ctx;
  std::unique_ptr<system::metrics_endpoint> http;
};

using self_ptr = caf::stateful_actor<metrics_http_state>*;

caf::behavior metrics_http_impl(self_ptr self, node_context_ptr ctx) {
  keep_exception_text(self);
  auto& st = self->state;
  st.ctx = ctx;
  auto at = config::parse_endpoint(ctx->cfg.metrics.listen);
  if (!at) {
    self->quit(make_error(errc::bad_request, at.err().message()));
    return {};
  }
  st.http = std::make_unique<system::metrics_endpoint>();
  auto failed = st.http->start(*at, ctx->metrics);
  if (!failed.empty()) {
    log::error("metrics", failed);
    self->quit(make_error(errc::refused, failed));
    return {};
  }
  register_as(self->home_system(), "metrics",
              caf::actor_cast<caf::actor>(self));
  log::info("metrics", "serving /metrics on http://" + at->to_string());
  return {
      [=](status_atom) {
        auto& st = self->state;
        return json{{"listen", st.ctx->cfg.metrics.listen},
                    {"scrapes", st.http->scrapes()},
                    {"series", st.ctx->metrics->series()}}
            .dump();
      },
  };
}

} // namespace

child_spec metrics_http_child(node_context_ptr ctx) {
  return worker_child("metrics", metrics_http_impl, std::move(ctx));
}

} // namespace mycelium::actors
