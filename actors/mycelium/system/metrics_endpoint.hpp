#pragma once

/// The HTTP server behind `GET /metrics`: renders a metrics registry in the
/// Prometheus text format from its own small thread pool (2 threads), so a
/// slow scraper never blocks an actor. Used by the daemon's metrics actor
/// and by `mycelium-bench metrics`.

#include "mycelium/config/node_config.hpp"
#include "mycelium/metrics/registry.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace mycelium::system {

class metrics_endpoint {
public:
  metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;
  /// Stops serving and joins the server thread.
  ~metrics_endpoint();

  /// Binds `at` and starts serving; "" or what failed (naming the address).
  std::string start(const config::endpoint& at,
                    std::shared_ptr<metrics::registry> reg);
  void stop();
  uint64_t scrapes() const { return scrapes_.load(); }

private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<uint64_t> scrapes_{0};
};

} // namespace mycelium::system
