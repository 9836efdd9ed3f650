// Status helpers used across Fleet. Library code returns absl::Status / absl::StatusOr<T>;
// these macros keep the early-return plumbing short.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define FLEET_CONCAT_INNER_(a, b) a##b
#define FLEET_CONCAT_(a, b) FLEET_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` yields a non-OK status.
#define FLEET_RETURN_IF_ERROR(expr)                      \
  do {                                                   \
    ::absl::Status fleet_status_ = (expr);               \
    if (!fleet_status_.ok()) return fleet_status_;       \
  } while (0)

// `FLEET_ASSIGN_OR_RETURN(auto x, MakeX());` declares/assigns x or returns the error.
#define FLEET_ASSIGN_OR_RETURN(lhs, expr) \
  FLEET_ASSIGN_OR_RETURN_IMPL_(FLEET_CONCAT_(fleet_statusor_, __LINE__), lhs, expr)
#define FLEET_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// Internal invariant check: returns INTERNAL naming file:line when `cond` is false.
#define FLEET_RET_CHECK(cond)                                                          \
  do {                                                                                 \
    if (!(cond))                                                                       \
      return ::absl::InternalError(                                                    \
          ::absl::StrCat(__FILE__, ":", __LINE__, ": check failed: " #cond));          \
  } while (0)
