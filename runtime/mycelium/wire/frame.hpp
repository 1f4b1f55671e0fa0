#pragma once

/// Size-prefixed FlatBuffers frames.
///
/// A frame is a 4-byte big-endian length followed by that many bytes holding
/// one `Envelope` FlatBuffer. The decoder is incremental (bytes arrive in any
/// split), refuses a length above the configured maximum before buffering the
/// body, and runs the FlatBuffers `Verifier` on every body before anything
/// reads it. After an error the decoder stays failed: the connection is
/// untrustworthy and must be closed.

#include "mycelium/core/result.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace mycelium::wire {

/// Wire failures. Append-only: never renumber.
enum class errc : uint8_t {
  /// The length prefix exceeds the configured maximum.
  frame_too_large = 1,
  /// The body is not a valid Envelope.
  malformed_frame = 2,
  /// The payload does not match the kind it claims.
  malformed_payload = 3,
};

const char* to_string(errc code);

/// A decoded, verified envelope.
struct envelope {
  uint16_t kind = 0;
  std::string sender;
  std::string payload;
};

/// Encodes one frame (length prefix included).
std::string encode_frame(const envelope& env);

/// Appends one frame to `out` (the payload is copied once, into `out`).
void append_frame(std::string& out, uint16_t kind, std::string_view sender,
                  std::string_view payload);

/// Appends the bytes of a frame that come before its payload to `out` and
/// returns the bytes that come after it (alignment padding, a few bytes):
/// head + payload + tail is the frame `append_frame` writes, so a large
/// payload can go to the socket from where it is, never copied into a frame.
std::string append_frame_head(std::string& out, uint16_t kind,
                              std::string_view sender, size_t payload_size);

/// Incremental frame decoder.
class frame_decoder {
public:
  explicit frame_decoder(uint32_t max_frame_bytes)
      : max_frame_bytes_(max_frame_bytes) {}

  /// Appends received bytes and decodes every complete frame. Returns the
  /// first error; afterwards the decoder refuses further input.
  status feed(std::string_view bytes);

  /// The buffer `feed` appends to: a producer (the TLS channel) may append
  /// received bytes here itself and then call `decode`, saving a copy.
  std::string& input() { return buffer_; }

  /// Decodes every complete frame in `input()` (what `feed` does after
  /// appending).
  status decode();

  /// Decoded envelopes not yet taken.
  std::deque<envelope>& frames() { return frames_; }

  /// Bytes buffered for an incomplete frame.
  size_t pending_bytes() const { return buffer_.size(); }

private:
  uint32_t max_frame_bytes_;
  std::string buffer_;
  std::deque<envelope> frames_;
  bool failed_ = false;
};

} // namespace mycelium::wire
