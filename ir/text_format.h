// The program text form: a readable dump of a Program that parses back.
//
//   fleet.program v2 opset=17 producer="onnx-import" strategy="" role="" endpoints=[] extra={}
//   block 0 {
//     var %x : f32[?,784] feed
//     var %fc1.w : f32[784,128] persistable parameter trainable init
//     var %"onnx::MatMul_5" : f32[?,128]
//     var %ids : i64 sparse_rows
//     (Y: %"onnx::MatMul_5") = MatMul(A: %x, B: %fc1.w) name="fc1" loc("model.onnx" node "fc1")
//     (Y: %y, Mean: %m) = LayerNormalization(X: %x, Scale: %s, B: none) {epsilon = 1e-05}
//     fleet.send(X: [%a, %b]) {body = ^1, ids = ints[]} role=rpc|dist device="cpu"
//     (Out: %"w@GRAD") = fleet.grad_sum(X: [%"w@GRAD@RENAME@0", ...]) role=backward
//         vars=[(%w, %"w@GRAD")]
//   }
//   block 1 parent 0 {
//   }
//
// Header: `fleet.program v2`, then opset= producer= strategy= role= endpoints=[...]
// training={loss=%loss, learning_rate=%lr, step=%step, optimizer="fleet.sgd"} (the facts of
// ProgramMeta::training that are set; the field only when one is) extra={"key": "value", ...}
// (any order when parsing; each optional, defaults 0 / empty). Version 1 text (no `forward`
// role; training facts as extra keys) still reads, with the meaning v1 gave it
// (ir/program_upgrade.h).
// Values with no var of the same name in any block follow as `value %name : f32[2,3]`.
//
// Vars: `var %name : DTYPE[DIMS]` — `?` is an unknown dim (-1), `[]` a scalar, no brackets an
// unknown rank — then `sparse_rows` for that kind, the flags persistable parameter trainable feed
// fetch, and `init` when Program::values holds the var's initial value. `init` alone means the
// value has the var's dtype and shape; otherwise it is spelled `init=f32[4]`.
// THE TEXT FORM DOES NOT CARRY VALUE BYTES: parsing `init` records a value with that dtype and
// shape and empty bytes (a placeholder; load the bytes from a binary program file).
//
// Ops: `(SLOT: REFS, ...) = TYPE(SLOT: REFS, ...)`; an op without output slots omits `(...) =`.
// REFS is `%var`, `none` (an absent optional input, the empty name), or a list `[%a, none, %b]`
// (`[]` is an empty variadic slot); a one-element slot always prints without brackets. Then,
// each only when not the default: `{attrs}`, `name="..."`, `role=backward|loss` (no `role=`:
// the op has no role, kRoleNone), `vars=[(%param, %grad), ...]` (Op::role_vars, the
// (parameter, gradient) pairs the op handles), `device="..."`, `loc("model.onnx" node "fc1")`.
//
// Attributes `{name = VALUE, ...}`, typed by their spelling: int `1`; float `1.0`, `1e-05`,
// `inf`, `-inf`, `nan` (shortest form that reads back exactly); string `"a\n\x01"`; lists
// `[1, 2]`, `[1.0, 2.0]`, `["a", "b"]`, and empty lists `ints[]`, `floats[]`, `strings[]`;
// tensors `dense<f32[2,2]>[1.0, 2.0, 3.0, 4.0]` (f16 elements as their float value, bool as
// true/false, i8/u8/i32/i64 as integers); block references `^1`.
//
// Names: var names print bare after `%` when made of [A-Za-z0-9_.-], op types, slot and
// attribute names when they are idents ([A-Za-z_][A-Za-z0-9_.]*); otherwise quoted with
// escapes \" \\ \n \t \r \xHH (valid UTF-8 is kept as is). Op types spelled like a keyword
// that could start or end a statement (var, loc, block, value, none, init, sparse_rows and the
// var flags) are always quoted. `#` starts a comment to the end of the line. Whitespace and
// line breaks are free.
//
// Round trip: PrintProgram(ParseProgramText(PrintProgram(p))) == PrintProgram(p), and the parsed
// program equals p except for
//   - value bytes (see above);
//   - op locations: a location from an ONNX node (line 0: file and/or node name) prints as
//     loc(...) and reads back exactly; a text position (line > 0) is not printed. A parsed op
//     without loc(...) gets its position in the text being parsed: file:line:col of its first
//     token, so messages point into the file;
//   - Program::source, which becomes the parsed file's name.
// Bool tensor bytes other than 0/1 read back as 1; NaN payloads are not kept.
//
// Errors are INVALID_ARGUMENT "FILE:LINE:COL: error: WHAT", e.g.
//   prog.txt:3:31: error: expected ')' after slot list, got 'foo'
// The parser never crashes on hostile text. It checks the syntax, enum values, block numbering
// and references, duplicate vars and attributes, and tensor sizes; it does not check that ops
// refer to declared vars (that is the verifier's job).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ir/program.h"

namespace fleet {

// The text form of `program`; deterministic.
std::string PrintProgram(const Program& program);

// Parses the text form. `filename` prefixes error messages and fills op locations and
// Program::source.
absl::StatusOr<Program> ParseProgramText(std::string_view text, std::string_view filename);

}  // namespace fleet
