#include "mycelium/system/metrics_endpoint.hpp"

#include <httplib.h>

#include <chrono>
#include <thread>

namespace mycelium::system {

metrics_endpoint::metrics_endpoint() = default;

metrics_endpoint::~metrics_endpoint() {
  stop();
}

std::string metrics_endpoint::start(const config::endpoint& at,
                                    std::shared_ptr<metrics::registry> reg) {
  server_ = std::make_unique<httplib::Server>();
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->set_read_timeout(5, 0);
  server_->set_write_timeout(5, 0);
  server_->set_payload_max_length(4096);
  auto scrapes = &scrapes_;
  server_->Get("/metrics", [reg, scrapes](const httplib::Request&,
                                          httplib::Response& res) {
    scrapes->fetch_add(1, std::memory_order_relaxed);
    res.set_content(reg->render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("mycelium node: metrics at /metrics\n", "text/plain");
  });
  if (!server_->bind_to_port(at.host.c_str(), at.port))
    return "cannot listen for /metrics on " + at.to_string() +
           " (address in use or not local)";
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() before the accept loop runs would be lost (and join would hang):
  // return only once the server is running.
  for (int i = 0; i < 1000 && !server_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return {};
}

void metrics_endpoint::stop() {
  if (server_)
    server_->stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace mycelium::system
