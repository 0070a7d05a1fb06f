// zvfs/status.h — errors as values.
//
// Every fallible call in ZVFS returns a Result<T> (a T or an Error) or a Status (Result<void>).
// An Error carries a positive errno value, which is what finally reaches the application through
// the preload library, and a static message saying what failed (never allocated, so errors can be
// built on any path, including inside the preload library and on the I/O path).
//
// Invariants:
//   - Error::code is a positive errno value (EIO, ENOSPC, ENOENT, EINVAL, ...), never 0.
//   - Error::msg points to a string with static storage duration.
//   - No exceptions are thrown by these types.
#pragma once

#include <cerrno>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <variant>

namespace zvfs {

struct Error {
  int code = EIO;          // positive errno value
  const char* msg = "";    // static string: what failed
};

inline Error make_error(int code, const char* msg) { return Error{code, msg}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(const T& v) : v_(std::in_place_index<0>, v) {}
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}
  Result(Error e) : v_(std::in_place_index<1>, e) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return *std::get_if<0>(&v_); }
  const T& value() const& { return *std::get_if<0>(&v_); }
  T&& value() && { return std::move(*std::get_if<0>(&v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return std::get_if<0>(&v_); }
  const T* operator->() const { return std::get_if<0>(&v_); }

  const Error& error() const { return *std::get_if<1>(&v_); }
  int code() const { return ok() ? 0 : error().code; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : ok_(false), err_(e) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }
  int code() const { return ok_ ? 0 : err_.code; }

 private:
  bool ok_ = true;
  Error err_{};
};

using Status = Result<void>;

inline Status ok_status() { return Status{}; }

}  // namespace zvfs

// Propagate an error from a Status/Result expression.
#define ZVFS_TRY(expr)                              \
  do {                                              \
    auto&& zvfs_try_r_ = (expr);                    \
    if (!zvfs_try_r_.ok()) return zvfs_try_r_.error(); \
  } while (0)

// Evaluate a Result<T> expression; on error return it, otherwise bind the value to `var`.
#define ZVFS_ASSIGN_OR_RETURN(var, expr)            \
  auto var##_result_ = (expr);                      \
  if (!var##_result_.ok()) return var##_result_.error(); \
  auto var = std::move(var##_result_).value()
