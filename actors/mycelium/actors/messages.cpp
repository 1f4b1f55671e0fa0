#include "mycelium/actors/messages.hpp"

#include "mycelium/json/json.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace mycelium::actors {

const char* to_string(errc code) {
  switch (code) {
  case errc::fault_injected:
    return "fault_injected";
  case errc::restart_intensity:
    return "restart_intensity";
  case errc::store_failed:
    return "store_failed";
  case errc::no_such_actor:
    return "no_such_actor";
  case errc::refused:
    return "refused";
  case errc::not_found:
    return "not_found";
  case errc::bad_request:
    return "bad_request";
  case errc::read_only:
    return "read_only";
  }
  return "unknown";
}

caf::error make_error(errc code, std::string context) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(context))};
}

caf::error to_caf_error(const mycelium::error& err) {
  return make_error(errc::store_failed, err.to_string());
}

std::string describe(const caf::error& err) {
  if (!err)
    return "normal";
  std::string what;
  if (err.category() == error_category)
    what = to_string(static_cast<errc>(err.code()));
  else if (err.category() == caf::atom("exit"))
    what = caf::to_string(static_cast<caf::exit_reason>(err.code()));
  else if (err.category() == caf::atom("system"))
    what = caf::to_string(static_cast<caf::sec>(err.code()));
  else
    what = caf::to_string(err.category()) + ":" + std::to_string(err.code());
  auto& ctx = err.context();
  if (!ctx.empty()) {
    if (ctx.match_elements<std::string>())
      what += ": " + ctx.get_as<std::string>(0);
    else
      what += ": " + caf::to_string(ctx);
  }
  return what;
}

void register_as(caf::actor_system& sys, const char* name,
                 const caf::actor& who) {
  auto key = caf::atom_from_string(name);
  sys.registry().erase(key);
  sys.registry().put(key, who);
}

caf::actor registered(caf::actor_system& sys, const char* name) {
  return sys.registry().get<caf::actor>(caf::atom_from_string(name));
}

std::vector<std::string> command_words(const std::string& args_json) {
  auto args = json::parse(args_json, nullptr, false);
  std::vector<std::string> words;
  if (args.is_array())
    for (auto& x : args)
      words.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  return words;
}

void forget(std::vector<caf::actor>& subscribers, const caf::actor_addr& who) {
  subscribers.erase(
      std::remove_if(subscribers.begin(), subscribers.end(),
                     [&](const caf::actor& a) { return a.address() == who; }),
      subscribers.end());
}

} // namespace mycelium::actors
