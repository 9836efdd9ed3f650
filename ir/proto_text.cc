// Protobuf text-format parsing with file:line:col errors (ir/proto_text.h).
#include "ir/proto_text.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"

namespace fleet {
namespace {

// Keeps the first error the text parser reports, with its 0-based position.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!has_error_) {
      has_error_ = true;
      line_ = line;
      column_ = column;
      message_ = message;
    }
  }
  bool has_error() const { return has_error_; }
  std::string ToString(const std::string& file) const {
    return absl::StrCat(file, ":", line_ + 1, ":", column_ + 1, ": error: ", message_);
  }

 private:
  bool has_error_ = false;
  int line_ = 0;
  int column_ = 0;
  std::string message_;
};

}  // namespace

absl::Status ParseProtoText(std::string_view text, const std::string& file,
                            google::protobuf::Message* message,
                            google::protobuf::TextFormat::ParseInfoTree* locations) {
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (locations != nullptr) parser.WriteLocationsTo(locations);
  if (!parser.ParseFromString(std::string(text), message)) {
    return absl::InvalidArgumentError(
        errors.has_error()
            ? errors.ToString(file)
            : absl::StrCat(file, ": error: not a ", message->GetDescriptor()->name()));
  }
  return absl::OkStatus();
}

}  // namespace fleet
