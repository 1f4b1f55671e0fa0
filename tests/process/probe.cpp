/// mycelium-probe: a hostile peer for process tests. It completes TLS with a
/// valid network key, then misbehaves in one chosen way and reports how the
/// node reacted.
///
/// usage: mycelium-probe HOST:PORT NETWORK_ID KEY_HEX MODE
/// MODE: bad-signature | bad-id | oversized | malformed | truncated
/// Prints "rejected: REASON" when the node sent a Reject, then "closed" when
/// it closed the connection; exits 0 when the node closed it within 10 s,
/// 1 when it kept it open, 2 on usage or setup errors.

#include "mycelium/config/node_config.hpp"
#include "mycelium/crypto/identity.hpp"
#include "mycelium/crypto/tls_channel.hpp"
#include "mycelium/system/net.hpp"
#include "mycelium/transport/transport_core.hpp"
#include "mycelium/wire/frame.hpp"
#include "mycelium/wire/hello.hpp"

#include <chrono>
#include <iostream>
#include <poll.h>
#include <unistd.h>

using namespace mycelium;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: mycelium-probe HOST:PORT NETWORK_ID KEY_HEX MODE\n";
    return 2;
  }
  auto ep = config::parse_endpoint(argv[1]);
  auto key = crypto::from_hex(argv[3]);
  std::string mode = argv[4];
  if (!ep || !key)
    return 2;
  std::string why;
  int fd = net::dial(ep->host, ep->port, 2000, why);
  if (fd < 0) {
    std::cerr << "cannot connect: " << why << "\n";
    return 2;
  }
  auto tls = crypto::tls_channel::client(
      transport::peer_identity(argv[2], *key), *key);
  bool eof = false;
  auto deadline = net::monotonic_ms() + 5000;
  while (!tls->established() && !eof && net::monotonic_ms() < deadline) {
    net::write_all(fd, tls->take_output());
    auto in = net::read_some(fd, net::monotonic_ms() + 200, eof);
    if (!in.empty() && !tls->received(in.data(), in.size())) {
      std::cerr << "TLS failed: " << tls->last_alert() << "\n";
      return 2;
    }
  }
  net::write_all(fd, tls->take_output());
  if (!tls->established()) {
    std::cerr << "TLS did not complete\n";
    return 2;
  }
  auto binding = *tls->exporter("EXPORTER-mycelium-hello", 32);
  auto me = crypto::node_identity::generate();
  wire::hello h;
  h.node_id = me.node_id();
  h.public_key = me.public_key();
  h.software_version = "probe";
  h.min_protocol = 1;
  h.max_protocol = 1;
  h.name = "probe";
  std::string bytes;
  if (mode == "bad-signature") {
    h.signature = me.sign("not the hello");
    bytes = wire::encode_frame({1, h.node_id, wire::encode_hello(h)});
  } else if (mode == "bad-id") {
    h.node_id = std::string(32, '0');
    h.signature = me.sign(wire::hello_signed_bytes(h, binding));
    bytes = wire::encode_frame({1, h.node_id, wire::encode_hello(h)});
  } else if (mode == "oversized") {
    bytes = std::string("\x7f\xff\xff\xff", 4) + std::string(64, 'x');
  } else if (mode == "malformed") {
    bytes = std::string("\x00\x00\x00\x08GARBAGE!", 12);
  } else if (mode == "truncated") {
    h.signature = me.sign(wire::hello_signed_bytes(h, binding));
    bytes = wire::encode_frame({1, h.node_id, wire::encode_hello(h)});
    bytes.resize(bytes.size() - 10);
  } else {
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  }
  tls->send(bytes.data(), bytes.size());
  net::write_all(fd, tls->take_output());
  wire::frame_decoder dec{1 << 20};
  deadline = net::monotonic_ms() + 10000;
  while (!eof && net::monotonic_ms() < deadline) {
    auto in = net::read_some(fd, net::monotonic_ms() + 200, eof);
    if (in.empty())
      continue;
    tls->received(in.data(), in.size());
    if (dec.feed(tls->take_plaintext())) {
      for (auto& env : dec.frames())
        if (env.kind == static_cast<uint16_t>(wire::kind::reject))
          if (auto r = wire::decode_reject(env.payload))
            std::cout << "rejected: " << r->reason << std::endl;
      dec.frames().clear();
    }
    if (tls->closed()) {
      // The node sent close_notify; wait for the socket to close as well.
      deadline = std::min(deadline, net::monotonic_ms() + 2000);
    }
  }
  ::close(fd);
  if (!eof && !tls->closed()) {
    std::cout << "still open" << std::endl;
    return 1;
  }
  std::cout << "closed" << std::endl;
  return 0;
}
