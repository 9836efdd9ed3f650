// Program <-> fleet.proto.Program conversion, with validation of everything read back, and the
// atomic file write.
#include "ir/serialize.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/logging.h"
#include "ir/program_upgrade.h"
#include "ir/status_macros.h"
#include "ir/tensor_checks.h"
#include "program.pb.h"  // generated from ir/program.proto

namespace fleet {
namespace {

constexpr uint32_t kKnownVarFlags =
    kVarPersistable | kVarParameter | kVarTrainable | kVarFeed | kVarFetch;
constexpr int kMaxDType = static_cast<int>(DataType::kBF16);
constexpr int kMaxVarKind = static_cast<int>(VarKind::kSparseRows);

// ---- Program -> proto ----

void TensorToProto(const TensorValue& value, proto::TensorValue* out) {
  out->set_dtype(static_cast<proto::DType>(value.dtype));
  for (int64_t d : value.shape) out->add_shape(d);
  out->set_data(value.bytes);
}

void AttrToProto(const std::string& name, const AttrValue& value, proto::Attr* out) {
  out->set_name(name);
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          out->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          out->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          out->mutable_ints()->mutable_values()->Add(v.begin(), v.end());
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          out->mutable_floats()->mutable_values()->Add(v.begin(), v.end());
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          proto::Strings* strings = out->mutable_strings();  // sets the oneof even when empty
          for (const std::string& s : v) strings->add_values(s);
        } else if constexpr (std::is_same_v<T, TensorValue>) {
          TensorToProto(v, out->mutable_tensor());
        } else {
          static_assert(std::is_same_v<T, BlockRef>);
          out->set_block(v.index);
        }
      },
      value);
}

void OpToProto(const Op& op, proto::Op* out) {
  out->set_type(op.type);
  out->set_name(op.name);
  for (const Slot& s : op.inputs) {
    proto::Slot* slot = out->add_inputs();
    slot->set_name(s.name);
    for (const std::string& v : s.vars) slot->add_vars(v);
  }
  for (const Slot& s : op.outputs) {
    proto::Slot* slot = out->add_outputs();
    slot->set_name(s.name);
    for (const std::string& v : s.vars) slot->add_vars(v);
  }
  for (const auto& [name, value] : op.attrs) AttrToProto(name, value, out->add_attrs());
  out->set_role(op.role);
  for (const RoleVar& pair : op.role_vars) {
    proto::RoleVar* p = out->add_role_vars();
    p->set_param(pair.param);
    p->set_grad(pair.grad);
  }
  out->set_device(op.device);
  if (!op.loc.file.empty() || op.loc.line != 0 || op.loc.col != 0 || !op.loc.node.empty()) {
    proto::Location* loc = out->mutable_loc();
    loc->set_file(op.loc.file);
    loc->set_line(op.loc.line);
    loc->set_col(op.loc.col);
    loc->set_node(op.loc.node);
  }
}

void BlockToProto(const Block& block, proto::Block* out) {
  out->set_index(block.index());
  out->set_parent(block.parent());
  for (const Var& var : block.vars()) {
    proto::Var* v = out->add_vars();
    v->set_name(var.name);
    v->set_dtype(static_cast<proto::DType>(var.dtype));
    v->set_has_shape(var.shape.has_value());
    if (var.shape) {
      for (int64_t d : *var.shape) v->add_shape(d);
    }
    v->set_kind(static_cast<int32_t>(var.kind));
    v->set_flags(var.flags);
  }
  for (const Op& op : block.ops) OpToProto(op, out->add_ops());
}

// ---- proto -> Program, validating ----

// Builds error messages "FILE: invalid program: WHERE: WHAT".
class Reader {
 public:
  explicit Reader(std::string_view filename) : file_(filename) {}

  absl::Status Invalid(const std::string& where, const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": invalid program: ", where, where.empty() ? "" : ": ", what));
  }

  absl::StatusOr<DataType> ReadDType(int value, const std::string& where) const {
    if (value < 0 || value > kMaxDType) {
      return Invalid(
          where, absl::StrCat("dtype ", value, " is out of range (expected 0..", kMaxDType, ")"));
    }
    return static_cast<DataType>(value);
  }

  absl::StatusOr<TensorValue> ReadTensor(const proto::TensorValue& t, const std::string& where,
                                         bool allow_placeholder) const {
    TensorValue value;
    FLEET_ASSIGN_OR_RETURN(value.dtype, ReadDType(t.dtype(), where));
    value.shape.assign(t.shape().begin(), t.shape().end());
    value.bytes = t.data();
    absl::Status status = CheckTensorValue(value, allow_placeholder);
    if (!status.ok()) return Invalid(where, std::string(status.message()));
    return value;
  }

  absl::StatusOr<AttrValue> ReadAttr(const proto::Attr& a, const std::string& where,
                                     int num_blocks) const {
    switch (a.value_case()) {
      case proto::Attr::kI:
        return AttrValue(a.i());
      case proto::Attr::kF:
        return AttrValue(a.f());
      case proto::Attr::kS:
        return AttrValue(a.s());
      case proto::Attr::kInts:
        return AttrValue(std::vector<int64_t>(a.ints().values().begin(), a.ints().values().end()));
      case proto::Attr::kFloats:
        return AttrValue(
            std::vector<float>(a.floats().values().begin(), a.floats().values().end()));
      case proto::Attr::kStrings:
        return AttrValue(
            std::vector<std::string>(a.strings().values().begin(), a.strings().values().end()));
      case proto::Attr::kTensor: {
        FLEET_ASSIGN_OR_RETURN(TensorValue t, ReadTensor(a.tensor(), where, false));
        return AttrValue(std::move(t));
      }
      case proto::Attr::kBlock:
        if (a.block() < 0 || a.block() >= num_blocks) {
          return Invalid(
              where, absl::StrCat("block reference ^", a.block(), " is out of range (program has ",
                                  num_blocks, " blocks)"));
        }
        return AttrValue(BlockRef{a.block()});
      case proto::Attr::VALUE_NOT_SET:
        break;
    }
    return Invalid(where, "attribute has no value (unknown or missing attribute type)");
  }

  absl::StatusOr<Op> ReadOp(const proto::Op& p, const std::string& where, int num_blocks) const {
    Op op;
    op.type = p.type();
    op.name = p.name();
    for (const proto::Slot& s : p.inputs()) {
      op.inputs.push_back(Slot{s.name(), {s.vars().begin(), s.vars().end()}});
    }
    for (const proto::Slot& s : p.outputs()) {
      op.outputs.push_back(Slot{s.name(), {s.vars().begin(), s.vars().end()}});
    }
    for (const proto::Attr& a : p.attrs()) {
      std::string attr_where = absl::StrCat(where, " attr '", a.name(), "'");
      FLEET_ASSIGN_OR_RETURN(AttrValue value, ReadAttr(a, attr_where, num_blocks));
      if (!op.attrs.emplace(a.name(), std::move(value)).second) {
        return Invalid(attr_where, "duplicate attribute");
      }
    }
    if ((p.role() & ~kKnownRoles) != 0) {
      return Invalid(
          where, absl::StrCat("role bits 0x", absl::Hex(p.role() & ~kKnownRoles), " are unknown"));
    }
    op.role = p.role();
    for (int i = 0; i < p.role_vars_size(); ++i) {
      const proto::RoleVar& pair = p.role_vars(i);
      if (pair.param().empty() || pair.grad().empty()) {
        return Invalid(where, absl::StrCat("(parameter, gradient) pair ", i, " ('", pair.param(),
                                           "', '", pair.grad(), "') has an empty name"));
      }
      op.role_vars.push_back(RoleVar{pair.param(), pair.grad()});
    }
    op.device = p.device();
    if (p.loc().line() < 0 || p.loc().col() < 0) {
      return Invalid(where, absl::StrCat("location line ", p.loc().line(), " col ", p.loc().col(),
                                         " is negative"));
    }
    op.loc = Location{p.loc().file(), p.loc().line(), p.loc().col(), p.loc().node()};
    return op;
  }

  absl::StatusOr<Var> ReadVar(const proto::Var& v, const std::string& where) const {
    Var var;
    var.name = v.name();
    if (var.name.empty()) return Invalid(where, "var has an empty name");
    FLEET_ASSIGN_OR_RETURN(var.dtype, ReadDType(v.dtype(), where));
    if (v.has_shape()) {
      var.shape.emplace(v.shape().begin(), v.shape().end());
      for (int64_t d : *var.shape) {
        if (d < -1) return Invalid(where, absl::StrCat("dim ", d, " is negative (-1 is unknown)"));
      }
    } else if (v.shape_size() != 0) {
      return Invalid(where, "shape dims given but has_shape is false");
    }
    if (v.kind() < 0 || v.kind() > kMaxVarKind) {
      return Invalid(where, absl::StrCat("var kind ", v.kind(), " is out of range (expected 0..",
                                         kMaxVarKind, ")"));
    }
    var.kind = static_cast<VarKind>(v.kind());
    if ((v.flags() & ~kKnownVarFlags) != 0) {
      return Invalid(where, absl::StrCat("var flag bits 0x", absl::Hex(v.flags() & ~kKnownVarFlags),
                                         " are unknown"));
    }
    var.flags = v.flags();
    return var;
  }

  absl::StatusOr<Program> ReadProgram(const proto::Program& p) const {
    if (p.magic() != kProgramMagic) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_, ": not a Fleet program file (bad magic)"));
    }
    if (p.version() != kProgramVersion && p.version() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_, ": unsupported program file version ", p.version(),
                       "; this build reads versions 1 to ", kProgramVersion,
                       p.version() > kProgramVersion ? " (written by a newer Fleet)" : ""));
    }
    const int num_blocks = p.blocks_size();
    if (num_blocks == 0) return Invalid("", "program has no blocks (expected at least block 0)");
    Program program;
    program.blocks.clear();
    for (int i = 0; i < num_blocks; ++i) {
      const proto::Block& b = p.blocks(i);
      std::string where = absl::StrCat("block ", i);
      if (b.index() != i) {
        return Invalid(where, absl::StrCat("block index is ", b.index(), "; expected ", i));
      }
      if (b.parent() < -1 || b.parent() >= i) {
        return Invalid(where, absl::StrCat("parent ", b.parent(),
                                           " is out of range (expected -1 or an earlier block)"));
      }
      Block block(i, b.parent());
      for (const proto::Var& v : b.vars()) {
        std::string var_where = absl::StrCat(where, " var '", v.name(), "'");
        FLEET_ASSIGN_OR_RETURN(Var var, ReadVar(v, var_where));
        if (!block.AddVar(std::move(var))) return Invalid(var_where, "duplicate var");
      }
      for (int j = 0; j < b.ops_size(); ++j) {
        const proto::Op& o = b.ops(j);
        std::string op_where = absl::StrCat(where, " op ", j, " (", o.type(), ")");
        FLEET_ASSIGN_OR_RETURN(Op op, ReadOp(o, op_where, num_blocks));
        block.ops.push_back(std::move(op));
      }
      program.blocks.push_back(std::move(block));
    }
    const proto::ProgramMeta& m = p.meta();
    program.meta.opset = m.opset();
    program.meta.producer = m.producer();
    program.meta.strategy = m.strategy();
    program.meta.role = m.role();
    program.meta.endpoints.assign(m.endpoints().begin(), m.endpoints().end());
    program.meta.extra.insert(m.extra().begin(), m.extra().end());
    const proto::TrainingFacts& t = m.training();
    program.meta.training = TrainingFacts{t.loss(), t.learning_rate(), t.step(), t.optimizer()};
    for (const auto& [name, value] : p.values()) {
      std::string where = absl::StrCat("value '", name, "'");
      if (name.empty()) return Invalid(where, "value has an empty name");
      FLEET_ASSIGN_OR_RETURN(TensorValue t, ReadTensor(value, where, true));
      program.values.emplace(name, std::move(t));
    }
    program.source = file_;
    if (p.version() == 1) UpgradeFromVersion1(program);
    return program;
  }

 private:
  std::string file_;
};

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  int err = errno;
  return absl::ErrnoToStatus(err, absl::StrCat("cannot ", what, " '", path, "'"));
}

}  // namespace

std::string SerializeProgram(const Program& program) {
  proto::Program p;
  p.set_magic(kProgramMagic);
  p.set_version(kProgramVersion);
  for (const Block& block : program.blocks) BlockToProto(block, p.add_blocks());
  proto::ProgramMeta* m = p.mutable_meta();
  m->set_opset(program.meta.opset);
  m->set_producer(program.meta.producer);
  m->set_strategy(program.meta.strategy);
  m->set_role(program.meta.role);
  for (const std::string& e : program.meta.endpoints) m->add_endpoints(e);
  for (const auto& [k, v] : program.meta.extra) (*m->mutable_extra())[k] = v;
  if (!program.meta.training.empty()) {
    const TrainingFacts& t = program.meta.training;
    proto::TrainingFacts* out = m->mutable_training();
    out->set_loss(t.loss);
    out->set_learning_rate(t.learning_rate);
    out->set_step(t.step);
    out->set_optimizer(t.optimizer);
  }
  for (const auto& [name, value] : program.values) {
    TensorToProto(value, &(*p.mutable_values())[name]);
  }
  // Map fields serialize in hash order unless asked otherwise; equal programs must give equal
  // bytes (tests and caches compare files).
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    p.SerializeToCodedStream(&out);
  }
  return bytes;
}

absl::StatusOr<Program> ParseProgramBinary(std::string_view bytes, std::string_view filename) {
  Reader reader(filename);
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(filename), ": program file is ", bytes.size(),
                     " bytes; the limit is 2 GiB (protobuf's message size limit)"));
  }
  proto::Program p;
  // A CodedInputStream with an explicit limit: protobuf's historical default total-bytes limit
  // (64 MiB) would reject large parameter sets.
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  in.SetTotalBytesLimit(INT_MAX);
  bool parsed;
  {
    // Hostile files would otherwise make protobuf log (e.g. invalid UTF-8 in a string field);
    // the returned status already says what is wrong.
    google::protobuf::LogSilencer silence;
    parsed = p.ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
  }
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(filename), ": not a Fleet program file (not a valid protobuf message)"));
  }
  return reader.ReadProgram(p);
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return ErrnoError("create", tmp);
  size_t written = std::fwrite(bytes.data(), 1, bytes.size(), f);
  bool ok = written == bytes.size() && std::fflush(f) == 0;
  int err = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    errno = err;
    return ErrnoError("write", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status status = ErrnoError(absl::StrCat("rename '", tmp, "' to"), path);
    std::remove(tmp.c_str());
    return status;
  }
  return absl::OkStatus();
}

absl::Status WriteProgramFile(const Program& program, const std::string& path) {
  return WriteFileAtomically(path, SerializeProgram(program));
}

absl::StatusOr<Program> ReadProgramFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return ErrnoError("read", path);
  return ParseProgramBinary(buffer.str(), path);
}

}  // namespace fleet
