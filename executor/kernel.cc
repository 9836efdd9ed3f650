#include "executor/kernel.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fleet {

Tensor* KernelContext::Output(int i, DataType dtype, std::vector<int64_t> shape) {
  // Optional outputs the program does not name may still be written by a kernel; keep them in
  // slots nobody reads rather than writing past the end.
  if (i >= num_outputs()) outputs_->resize(static_cast<size_t>(i) + 1);
  (*outputs_)[i] = Tensor(dtype, std::move(shape), device().allocator);
  return &(*outputs_)[i];
}

absl::Status KernelContext::SetOutputsPending(std::shared_ptr<Event> done) {
  if (info_.pending != nullptr) {
    *info_.pending = std::move(done);
    return absl::OkStatus();
  }
  absl::Status status = done->Wait(Clock::now() + kDefaultWaitTimeout);
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(std::string(op_description_), ": ", status.message()));
}

void KernelContext::SetOutput(int i, Tensor tensor) {
  if (i >= num_outputs()) outputs_->resize(static_cast<size_t>(i) + 1);
  (*outputs_)[i] = std::move(tensor);
}

absl::Status KernelContext::CheckOutputSize(const std::vector<int64_t>& shape,
                                            DataType dtype) const {
  if (CheckedNumBytes(dtype, shape) >= 0) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("output ", DataTypeName(dtype), ShapeString(shape),
                                      " has a negative dim or exceeds ", kMaxTensorBytes >> 30,
                                      " GiB"));
}

const AttrValue* KernelContext::FindAttr(std::string_view name) const {
  if (attrs_ == nullptr) return nullptr;
  auto it = attrs_->find(std::string(name));
  return it == attrs_->end() ? nullptr : &it->second;
}

bool KernelContext::HasAttr(std::string_view name) const { return FindAttr(name) != nullptr; }

int64_t KernelContext::GetInt(std::string_view name, int64_t default_value) const {
  const AttrValue* v = FindAttr(name);
  const int64_t* p = v ? std::get_if<int64_t>(v) : nullptr;
  return p ? *p : default_value;
}

float KernelContext::GetFloat(std::string_view name, float default_value) const {
  const AttrValue* v = FindAttr(name);
  const float* p = v ? std::get_if<float>(v) : nullptr;
  return p ? *p : default_value;
}

std::string KernelContext::GetString(std::string_view name, std::string default_value) const {
  const AttrValue* v = FindAttr(name);
  const std::string* p = v ? std::get_if<std::string>(v) : nullptr;
  return p ? *p : default_value;
}

std::vector<int64_t> KernelContext::GetInts(std::string_view name,
                                            std::vector<int64_t> default_value) const {
  const AttrValue* v = FindAttr(name);
  const auto* p = v ? std::get_if<std::vector<int64_t>>(v) : nullptr;
  return p ? *p : default_value;
}

std::vector<float> KernelContext::GetFloats(std::string_view name,
                                            std::vector<float> default_value) const {
  const AttrValue* v = FindAttr(name);
  const auto* p = v ? std::get_if<std::vector<float>>(v) : nullptr;
  return p ? *p : default_value;
}

const TensorValue* KernelContext::GetTensor(std::string_view name) const {
  const AttrValue* v = FindAttr(name);
  return v ? std::get_if<TensorValue>(v) : nullptr;
}

absl::Status KernelContext::InvalidArgument(std::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(op_description_), ": ", std::string(message)));
}

absl::Status KernelContext::Unimplemented(std::string_view message) const {
  return absl::UnimplementedError(
      absl::StrCat(std::string(op_description_), ": ", std::string(message)));
}

absl::Status KernelContext::FailedPrecondition(std::string_view message) const {
  return absl::FailedPreconditionError(
      absl::StrCat(std::string(op_description_), ": ", std::string(message)));
}

void KernelTable::Add(std::string_view op_type, Device device, std::vector<DataType> dtypes,
                      KernelFn fn, int key_input) {
  auto& by_dtype = table_[std::string(op_type)][device].by_dtype;
  for (DataType t : dtypes) by_dtype[t] = Entry{fn, key_input};
}

void KernelTable::AddAnyType(std::string_view op_type, Device device, KernelFn fn, int key_input) {
  table_[std::string(op_type)][device].by_dtype[DataType::kUndefined] = Entry{fn, key_input};
}

void KernelTable::SetTraits(std::string_view op_type, Device device, KernelTraits traits) {
  table_[std::string(op_type)][device].traits = std::move(traits);
}

const KernelTraits& KernelTable::Traits(std::string_view op_type, Device device) const {
  static const KernelTraits* const none = new KernelTraits();
  auto op = table_.find(op_type);
  if (op == table_.end()) return *none;
  auto dev = op->second.find(device);
  return dev == op->second.end() ? *none : dev->second.traits;
}

int KernelTable::KeyInput(std::string_view op_type, Device device) const {
  auto op = table_.find(op_type);
  if (op == table_.end()) return 0;
  auto dev = op->second.find(device);
  if (dev == op->second.end() || dev->second.by_dtype.empty()) return 0;
  return dev->second.by_dtype.begin()->second.key_input;
}

absl::StatusOr<KernelFn> KernelTable::Find(std::string_view op_type, Device device,
                                           DataType dtype) const {
  auto op = table_.find(op_type);
  if (op == table_.end()) {
    return absl::NotFoundError(absl::StrCat("no kernel for op type '", std::string(op_type), "'"));
  }
  auto dev = op->second.find(device);
  if (dev == op->second.end() || dev->second.by_dtype.empty()) {
    return absl::UnimplementedError(
        absl::StrCat("no kernel for ", std::string(op_type), " on ", DeviceName(device)));
  }
  const std::map<DataType, Entry>& by_dtype = dev->second.by_dtype;
  auto it = by_dtype.find(dtype);
  if (it != by_dtype.end()) return it->second.fn;
  auto any = by_dtype.find(DataType::kUndefined);
  if (any != by_dtype.end()) return any->second.fn;
  std::vector<std::string> have;
  for (const auto& [t, e] : by_dtype) have.emplace_back(DataTypeName(t));
  return absl::UnimplementedError(
      absl::StrCat("no kernel for ", std::string(op_type), "(", std::string(DataTypeName(dtype)),
                   ") on ", DeviceName(device), "; have ", absl::StrJoin(have, ", ")));
}

bool KernelTable::HasOp(std::string_view op_type) const {
  return table_.find(op_type) != table_.end();
}

bool KernelTable::HasKernels(std::string_view op_type, Device device) const {
  auto op = table_.find(op_type);
  if (op == table_.end()) return false;
  auto on = op->second.find(device);
  return on != op->second.end() && !on->second.by_dtype.empty();
}

std::vector<std::string> KernelTable::OpTypes() const {
  std::vector<std::string> out;
  for (const auto& [name, devs] : table_) out.push_back(name);
  return out;
}

}  // namespace fleet
