#pragma once

/// The child spec of a plain worker: spawns `fn(self, args...)` linked to
/// its supervisor. Include from .cpp files only (it pulls in CAF).

#include "mycelium/actors/supervisor.hpp"

#include <caf/event_based_actor.hpp>

#include <string>
#include <utility>

namespace mycelium::actors {

template <class F, class... Ts>
child_spec worker_child(std::string id, F fn, Ts... args) {
  child_spec spec;
  spec.id = std::move(id);
  spec.start = [fn, args...](caf::event_based_actor* sup) {
    return caf::actor{sup->spawn<caf::linked>(fn, args...)};
  };
  return spec;
}

} // namespace mycelium::actors
