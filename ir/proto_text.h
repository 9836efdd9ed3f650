// Parsing protobuf text-format files (a strategy, a job manifest) with errors that point into
// the file: "s.pbtxt:3:9: error: Unknown enumeration value of \"FOO\" for field \"loss\"."
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"

namespace fleet {

// Parses `text` into `message` (cleared first). Unknown fields and bad values are errors.
// On failure returns INVALID_ARGUMENT "FILE:LINE:COL: error: WHAT" for the first problem
// (1-based line and column), or "FILE: error: not a TYPE" when the parser gives no position.
// `locations`, when given, receives where each field was read (for later value checks).
absl::Status ParseProtoText(std::string_view text, const std::string& file,
                            google::protobuf::Message* message,
                            google::protobuf::TextFormat::ParseInfoTree* locations = nullptr);

}  // namespace fleet
