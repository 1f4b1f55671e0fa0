#include "mycelium/wire/frame.hpp"

#include <doctest/doctest.h>

using namespace mycelium;
using namespace mycelium::wire;

TEST_CASE("frames round-trip through the decoder in any split") {
  envelope a{1, "sender-a", "hello"};
  envelope b{2, "", std::string(1000, 'x')};
  auto bytes = encode_frame(a) + encode_frame(b);
  for (size_t step : {size_t{1}, size_t{3}, size_t{64}, bytes.size()}) {
    CAPTURE(step);
    frame_decoder dec{4096};
    for (size_t i = 0; i < bytes.size(); i += step)
      REQUIRE(dec.feed(std::string_view{bytes}.substr(i, step)));
    REQUIRE(dec.frames().size() == 2);
    CHECK(dec.frames()[0].kind == 1);
    CHECK(dec.frames()[0].sender == "sender-a");
    CHECK(dec.frames()[0].payload == "hello");
    CHECK(dec.frames()[1].payload == b.payload);
    CHECK(dec.pending_bytes() == 0);
  }
}

TEST_CASE("an oversized frame is refused before its body is buffered") {
  frame_decoder dec{100};
  auto frame = encode_frame({1, "s", std::string(200, 'y')});
  auto st = dec.feed(std::string_view{frame}.substr(0, 4));
  REQUIRE_FALSE(st);
  CHECK(static_cast<errc>(st.err().code()) == errc::frame_too_large);
  CHECK(dec.pending_bytes() == 0);
  CHECK_FALSE(dec.feed("more")); // stays failed
}

TEST_CASE("garbage instead of a FlatBuffer is refused by the verifier") {
  frame_decoder dec{4096};
  std::string garbage{"\x00\x00\x00\x08GARBAGE!", 12};
  auto st = dec.feed(garbage);
  REQUIRE_FALSE(st);
  CHECK(static_cast<errc>(st.err().code()) == errc::malformed_frame);
  CHECK(dec.frames().empty());
}

TEST_CASE("a truncated frame waits for the rest and yields nothing") {
  frame_decoder dec{4096};
  auto frame = encode_frame({1, "s", "payload"});
  REQUIRE(dec.feed(std::string_view{frame}.substr(0, frame.size() - 1)));
  CHECK(dec.frames().empty());
  CHECK(dec.pending_bytes() == frame.size() - 1);
}

TEST_CASE("a frame written around its payload is the frame append_frame "
          "writes, for every payload alignment") {
  for (size_t size : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4},
                      size_t{5}, size_t{1021}, size_t{65536}, size_t{70001}}) {
    CAPTURE(size);
    for (std::string sender : {"", "n", "a-longer-sender-id"}) {
      std::string payload(size, 'p');
      for (size_t i = 0; i < size; ++i)
        payload[i] = static_cast<char>(i * 7);
      std::string whole;
      append_frame(whole, 5, sender, payload);
      std::string around;
      auto tail = append_frame_head(around, 5, sender, size);
      CHECK(tail.size() < 8);
      around += payload;
      around += tail;
      CHECK(around == whole);
      // The input buffer filled by a producer decodes like fed bytes.
      frame_decoder dec{1 << 20};
      dec.input() += around;
      REQUIRE(dec.decode());
      REQUIRE(dec.frames().size() == 1);
      CHECK(dec.frames()[0].kind == 5);
      CHECK(dec.frames()[0].sender == sender);
      CHECK(dec.frames()[0].payload == payload);
    }
  }
}
