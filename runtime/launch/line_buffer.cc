// Whole lines out of a byte stream (runtime/launch/line_buffer.h).
#include "runtime/launch/line_buffer.h"

namespace fleet::launch {

void LineBuffer::Append(std::string_view data, const Emit& emit) {
  while (!data.empty()) {
    size_t newline = data.find('\n');
    std::string_view part = data.substr(0, newline);
    // Cut an overlong line at max_line_ bytes.
    size_t room = max_line_ - pending_.size();
    if (part.size() >= room) {
      pending_.append(part.substr(0, room));
      emit(pending_);
      pending_.clear();
      data.remove_prefix(room);
      // A cut that lands on the newline ends the line there.
      if (!data.empty() && data.front() == '\n' && newline == room) data.remove_prefix(1);
      continue;
    }
    if (newline == std::string_view::npos) {
      pending_.append(part);
      return;
    }
    if (pending_.empty()) {
      emit(part);
    } else {
      pending_.append(part);
      emit(pending_);
      pending_.clear();
    }
    data.remove_prefix(newline + 1);
  }
}

void LineBuffer::Flush(const Emit& emit) {
  if (pending_.empty()) return;
  emit(pending_);
  pending_.clear();
}

}  // namespace fleet::launch
