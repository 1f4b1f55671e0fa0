#include "mycelium/wire/frame.hpp"

#include "envelope_generated.h"

namespace mycelium::wire {

const char* to_string(errc code) {
  switch (code) {
  case errc::frame_too_large:
    return "frame_too_large";
  case errc::malformed_frame:
    return "malformed_frame";
  case errc::malformed_payload:
    return "malformed_payload";
  }
  return "unknown";
}

namespace {

error make_error(errc code, std::string msg) {
  return error{"wire", static_cast<uint8_t>(code), std::move(msg)};
}

} // namespace

std::string append_frame_head(std::string& out, uint16_t kind,
                              std::string_view sender, size_t payload_size) {
  // The payload vector is created first, so it ends up last in the buffer
  // with only its alignment padding after it. The builder reserves room for
  // it once (never regrows) and the room is never written: the payload
  // bytes go straight from the caller to `out` or the socket.
  flatbuffers::FlatBufferBuilder fbb{payload_size + sender.size() + 128};
  uint8_t* room = nullptr;
  auto payload_vec = fbb.CreateUninitializedVector(payload_size, 1, &room);
  // Payload bytes are this far from the end of the finished buffer.
  size_t payload_from_end = fbb.GetSize() - sizeof(flatbuffers::uoffset_t);
  auto sender_vec = fbb.CreateVector(
      reinterpret_cast<const uint8_t*>(sender.data()), sender.size());
  auto root = fb::CreateEnvelope(fbb, static_cast<fb::Kind>(kind), sender_vec,
                                 payload_vec);
  fbb.Finish(root);
  auto size = fbb.GetSize();
  auto* bytes = reinterpret_cast<const char*>(fbb.GetBufferPointer());
  size_t start = size - payload_from_end;
  out.push_back(static_cast<char>((size >> 24) & 0xff));
  out.push_back(static_cast<char>((size >> 16) & 0xff));
  out.push_back(static_cast<char>((size >> 8) & 0xff));
  out.push_back(static_cast<char>(size & 0xff));
  out.append(bytes, start);
  return std::string{bytes + start + payload_size, size - start - payload_size};
}

void append_frame(std::string& out, uint16_t kind, std::string_view sender,
                  std::string_view payload) {
  auto tail = append_frame_head(out, kind, sender, payload.size());
  out.append(payload.data(), payload.size());
  out.append(tail);
}

std::string encode_frame(const envelope& env) {
  std::string out;
  append_frame(out, env.kind, env.sender, env.payload);
  return out;
}

status frame_decoder::feed(std::string_view bytes) {
  if (failed_)
    return make_error(errc::malformed_frame, "decoder already failed");
  buffer_.append(bytes.data(), bytes.size());
  return decode();
}

status frame_decoder::decode() {
  if (failed_) {
    buffer_.clear();
    return make_error(errc::malformed_frame, "decoder already failed");
  }
  size_t pos = 0;
  while (buffer_.size() - pos >= 4) {
    auto* p = reinterpret_cast<const uint8_t*>(buffer_.data() + pos);
    uint32_t size = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                    (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    if (size > max_frame_bytes_) {
      failed_ = true;
      buffer_.clear();
      return make_error(errc::frame_too_large,
                        "frame of " + std::to_string(size) +
                            " bytes exceeds the maximum of " +
                            std::to_string(max_frame_bytes_));
    }
    if (buffer_.size() - pos - 4 < size) {
      // A large frame that is really arriving: room for all of it at once,
      // so the buffer does not regrow (and copy) while it comes in.
      if (buffer_.size() - pos >= 65536)
        buffer_.reserve(pos + 4 + size);
      break;
    }
    auto* body = p + 4;
    flatbuffers::Verifier verifier{body, size};
    if (!fb::VerifyEnvelopeBuffer(verifier)) {
      failed_ = true;
      buffer_.clear();
      return make_error(errc::malformed_frame,
                        "frame of " + std::to_string(size) +
                            " bytes is not a valid Envelope");
    }
    auto* env = fb::GetEnvelope(body);
    envelope out;
    out.kind = static_cast<uint16_t>(env->kind());
    if (auto* s = env->sender())
      out.sender.assign(reinterpret_cast<const char*>(s->data()), s->size());
    if (auto* pl = env->payload())
      out.payload.assign(reinterpret_cast<const char*>(pl->data()), pl->size());
    frames_.push_back(std::move(out));
    pos += 4 + size;
  }
  buffer_.erase(0, pos);
  return ok();
}

} // namespace mycelium::wire
