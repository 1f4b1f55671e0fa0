#pragma once

/// Value-or-error return type, shaped like `caf::expected<T>` but CAF-free.

#include "mycelium/core/error.hpp"

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace mycelium {

/// Holds either a `T` or an `error`. Accessing the wrong alternative is a bug
/// and asserts.
template <class T>
class result {
public:
  result(T value) : data_(std::move(value)) {
    // nop
  }

  result(error err) : data_(std::move(err)) {
    // nop
  }

  /// True when this holds a value.
  explicit operator bool() const noexcept { return data_.index() == 0; }

  T& value() & {
    assert(*this);
    return std::get<0>(data_);
  }

  const T& value() const& {
    assert(*this);
    return std::get<0>(data_);
  }

  T&& value() && {
    assert(*this);
    return std::get<0>(std::move(data_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& err() const {
    assert(!*this);
    return std::get<1>(data_);
  }

private:
  std::variant<T, error> data_;
};

/// Success without a value.
struct unit {};

/// Result of an operation that returns nothing on success.
using status = result<unit>;

/// The successful `status`.
inline status ok() {
  return unit{};
}

} // namespace mycelium
