// Binary program files: a Program as a fleet.proto.Program message (ir/program.proto).
//
// A file starts with the magic "fleet.program" and carries a format version (kProgramVersion).
// Reading validates everything a later stage would index with: enum ranges, block indices and
// parents, block references, duplicate vars, and tensor byte sizes. Any file that fails is an
// INVALID_ARGUMENT naming the file and the problem, e.g.
//   x.bin: not a Fleet program file (bad magic)
// Reading never crashes on hostile bytes. Files up to protobuf's 2 GiB message limit load
// (values larger than 64 MiB included).
//
// Initial values (Program::values) may have empty bytes: a placeholder recording dtype and shape
// only, as produced by the text form (ir/text_format.h). Non-empty bytes must match the shape.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/program.h"

namespace fleet {

inline constexpr char kProgramMagic[] = "fleet.program";
// Version 2 gave forward its own role bit and the training facts their own fields; version 1
// files still read, with version 1's meaning (ir/program_upgrade.h).
inline constexpr uint32_t kProgramVersion = 2;

// The program as deterministic bytes: equal programs give equal bytes. Program::source is not
// stored. Names (vars, ops, slots, attributes, meta) must be valid UTF-8, as protobuf string
// fields require; the text parser and the ONNX importer only produce such names. Attribute
// string values are bytes and may hold anything.
std::string SerializeProgram(const Program& program);

// Parses bytes written by SerializeProgram. `filename` prefixes error messages and becomes
// Program::source.
absl::StatusOr<Program> ParseProgramBinary(std::string_view bytes, std::string_view filename);

// Writes the program to `path` atomically (WriteFileAtomically).
absl::Status WriteProgramFile(const Program& program, const std::string& path);

// Writes `bytes` to `path` atomically: they go to `path.tmp`, which is then renamed over
// `path`, so readers never see a half-written file. Errors name the file and the errno text.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes);

// Reads and validates a program file written by WriteProgramFile.
absl::StatusOr<Program> ReadProgramFile(const std::string& path);

}  // namespace fleet
