#pragma once

/// The Hello and Reject payloads, and protocol version negotiation.
///
/// Hello is the first frame each way on a node-to-node connection. It is
/// signed with the sender's Ed25519 key over the canonical bytes of its fields
/// and a TLS channel binding (keying material exported from this session),
/// so a Hello cannot be replayed on another connection. The receiver checks
/// that the node id derives from the public key and that the signature holds
/// (see `transport::connection`).

#include "mycelium/core/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mycelium::wire {

/// Envelope kinds. Append-only: mirrors `Kind` in schema/envelope.fbs.
enum class kind : uint16_t {
  unknown = 0,
  hello = 1,
  reject = 2,
  console_request = 3,
  console_response = 4,
  ping = 5,
  pong = 6,
  bench = 7,
  membership = 8,
  spores = 9,
  gdb = 10,
};

struct hello {
  std::string node_id;
  std::string public_key;
  std::string software_version;
  uint16_t min_protocol = 0;
  uint16_t max_protocol = 0;
  std::vector<std::string> capabilities;
  std::string listen;
  std::string name;
  std::string signature;
};

struct reject {
  std::string reason;
  uint16_t local_min = 0;
  uint16_t local_max = 0;
  uint16_t peer_min = 0;
  uint16_t peer_max = 0;
};

/// The bytes a Hello's signature covers: a domain tag, the channel binding
/// and every field but the signature, length-prefixed.
std::string hello_signed_bytes(const hello& h, std::string_view binding);

std::string encode_hello(const hello& h);
result<hello> decode_hello(std::string_view payload);

std::string encode_reject(const reject& r);
result<reject> decode_reject(std::string_view payload);

/// The highest version both ranges contain, if any.
std::optional<uint16_t> negotiate(uint16_t local_min, uint16_t local_max,
                                  uint16_t peer_min, uint16_t peer_max);

} // namespace mycelium::wire
