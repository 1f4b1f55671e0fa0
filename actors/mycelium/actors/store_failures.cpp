#include "mycelium/actors/store_failures.hpp"

#include "mycelium/system/log.hpp"

namespace mycelium::actors {

bool store_failures::record(const node_context& ctx, const std::string& what,
                            const std::string& failure) {
  if (failing_gauge_ == nullptr) {
    failing_gauge_ = &ctx.metrics->get_gauge(
        "mycelium_store_write_failing",
        "1 while the component's last write to its store failed.",
        {{"component", component_}});
    failures_ = &ctx.metrics->get_counter(
        "mycelium_store_write_failures_total",
        "Writes a component could not persist (full disk, I/O error); the "
        "component keeps serving.",
        {{"component", component_}});
  }
  failing_gauge_->set(failure.empty() ? 0 : 1);
  ctx.resources->set_store_failing(component_, !failure.empty());
  if (failure.empty()) {
    if (failing_)
      log::info(component_, "writes to the store succeed again (" + what + ")");
    failing_ = false;
    return true;
  }
  failures_->inc();
  if (!failing_)
    log::error(component_, "cannot persist " + what + ": " + failure +
                               "; serving on, further failures are counted "
                               "in mycelium_store_write_failures_total");
  failing_ = true;
  return false;
}

} // namespace mycelium::actors
