// Helpers for the shape-inference tests: a one-block program from text, with values for its
// integer constants (the text form carries no value bytes), and the types inference gives the
// outputs of its last op.
#pragma once

#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "ir/program.h"
#include "ir/shape_infer.h"
#include "ir/text_format.h"

namespace fleet {
namespace testing_util {

// Block 0 holding `body` (var declarations and ops in text form); each var named in `ints`
// gets that i64 vector as its initial value (shape [n]).
inline Program MakeProgram(std::string_view body,
                           const std::map<std::string, std::vector<int64_t>>& ints = {}) {
  std::string text = "fleet.program v1 opset=17\nblock 0 {\n";
  text.append(body);
  text += "\n}\n";
  absl::StatusOr<Program> p = ParseProgramText(text, "prog.txt");
  EXPECT_TRUE(p.ok()) << p.status() << "\n" << text;
  if (!p.ok()) return Program();
  for (const auto& [name, values] : ints) {
    TensorValue t{DataType::kI64, {static_cast<int64_t>(values.size())}, {}};
    t.bytes.resize(values.size() * sizeof(int64_t));
    if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    p->values[name] = std::move(t);
  }
  return *std::move(p);
}

// The types inference gives the outputs of the last op of block 0, by var name (TypeString;
// "unset" for an output inference leaves unknown).
inline absl::StatusOr<std::map<std::string, std::string>> InferLastOp(const Program& program) {
  InferScope scope(program, program.main());
  const std::vector<Op>& ops = program.main().ops;
  if (ops.empty()) return absl::InvalidArgumentError("no ops");
  for (size_t i = 0; i + 1 < ops.size(); ++i) scope.NoteOp(ops[i]);
  absl::StatusOr<std::vector<InferContext::Result>> results = InferOp(scope, ops.back());
  if (!results.ok()) return results.status();
  std::map<std::string, std::string> out;
  for (const InferContext::Result& r : *results) {
    out[*r.var] = r.type ? TypeString(*r.type) : "unset";
  }
  return out;
}

// The type inference gives output var %y of the last op in `body` (see MakeProgram).
inline absl::StatusOr<std::string> InferY(
    std::string_view body, const std::map<std::string, std::vector<int64_t>>& ints = {}) {
  absl::StatusOr<std::map<std::string, std::string>> types = InferLastOp(MakeProgram(body, ints));
  if (!types.ok()) return types.status();
  auto it = types->find("y");
  if (it == types->end()) return absl::NotFoundError("the last op does not write %y");
  return it->second;
}

}  // namespace testing_util
}  // namespace fleet
