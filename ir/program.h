// Fleet's program IR: a Program holds Blocks; a Block holds ordered Ops and the Vars they use.
//
// Block 0 is the main block; other blocks are bodies referenced by BlockRef attributes
// (a pserver's per-parameter optimize blocks, LocalSGD's sync block). Ops name their inputs
// and outputs through named slots, each a list of var names: imported ONNX ops use the ONNX
// input/output names of their schema as slot names; Fleet's own ops use the `fleet.` prefix.
//
// The structs are plain data: passes edit them directly. Block keeps a name index over its vars,
// so vars are added and removed through its methods.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/attribute.h"
#include "ir/dtype.h"

namespace fleet {

enum class VarKind : int8_t {
  kDense = 0,       // an ordinary tensor
  kSparseRows = 1,  // selected rows of a table: (row ids, values[rows, ...])
};

// Flags on a var; combine with |.
enum VarFlag : uint32_t {
  kVarPersistable = 1u << 0,  // lives across steps (parameters, optimizer state)
  kVarParameter = 1u << 1,    // a model parameter
  kVarTrainable = 1u << 2,    // receives a gradient
  kVarFeed = 1u << 3,         // fed from outside each step
  kVarFetch = 1u << 4,        // read back after each step
};

struct Var {
  std::string name;
  DataType dtype = DataType::kUndefined;
  // nullopt: rank unknown. A dimension of -1 is unknown (e.g. the batch).
  std::optional<std::vector<int64_t>> shape;
  VarKind kind = VarKind::kDense;
  uint32_t flags = 0;

  bool Has(VarFlag flag) const { return (flags & flag) != 0; }
};

// What an op does in training; bit flags so an op can carry several (e.g. backward | loss).
// kRoleNone is "nobody said": the role of imported and inference ops. Forward is a role of its
// own, given by the autodiff pass to the forward part of a training program, so a forward op
// and an op that a pass forgot to mark are told apart (the verifier rejects the latter in
// training programs, ir/verify_roles.cc). Test and set roles with the helpers below.
enum OpRole : uint32_t {
  kRoleNone = 0,
  kRoleBackward = 1u << 0,
  kRoleOptimize = 1u << 1,
  kRoleRpc = 1u << 2,
  kRoleDist = 1u << 3,
  kRoleLRSchedule = 1u << 4,
  kRoleCollective = 1u << 5,
  kRoleForward = 1u << 6,
  kRoleLoss = 1u << 8,
};
inline constexpr uint32_t kKnownRoles = kRoleBackward | kRoleOptimize | kRoleRpc | kRoleDist |
                                        kRoleLRSchedule | kRoleCollective | kRoleForward |
                                        kRoleLoss;

// A (parameter, gradient) pair an op handles, as Paddle's op_role_var: the op that writes the
// final gradient of `param` (autodiff) and the ops that clip it or update `param` (optimizer).
// Distribution passes find their targets through these (a bucketed allreduce starts after the
// op that writes `grad`).
struct RoleVar {
  std::string param;
  std::string grad;

  bool operator==(const RoleVar& other) const { return param == other.param && grad == other.grad; }
};

// Where an op came from, for error messages: a text file position or an ONNX node.
struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;
  std::string node;  // ONNX node name, when imported

  // "model.onnx: node 'fc1'" or "prog.txt:12:8" or "" when nothing is known.
  std::string ToString() const;
};

struct Slot {
  std::string name;
  std::vector<std::string> vars;
};

struct Op {
  std::string type;  // "MatMul", "fleet.send", ...
  std::string name;  // optional, unique within the program by convention
  std::vector<Slot> inputs;
  std::vector<Slot> outputs;
  AttrMap attrs;
  uint32_t role = kRoleNone;  // OpRole bits
  std::vector<RoleVar> role_vars;
  std::string device;  // "" means the executor's default device
  Location loc;

  // The slot with this name, or nullptr.
  const Slot* FindInput(std::string_view slot) const;
  const Slot* FindOutput(std::string_view slot) const;
  // All input (output) var names in slot order; absent optional inputs are skipped.
  std::vector<std::string> InputVars() const;
  std::vector<std::string> OutputVars() const;
  // "op 'fc1' (MatMul)" plus the location when known; used as a message prefix.
  std::string Describe() const;
};

// Role helpers. `role` is one OpRole bit (not kRoleNone).
inline bool HasRole(const Op& op, OpRole role) { return (op.role & role) != 0; }
// The op has no role at all (imported or inference ops; in a training program, a bug).
inline bool HasNoRole(const Op& op) { return op.role == kRoleNone; }
// The op has `role` and nothing else (e.g. a forward op that is not part of the loss).
inline bool HasOnlyRole(const Op& op, OpRole role) { return op.role == role; }
inline bool IsForward(const Op& op) { return HasRole(op, kRoleForward); }
inline void AddRole(Op& op, OpRole role) { op.role |= role; }
// Records that `op` handles the pair (param, grad).
inline void AddRoleVar(Op& op, std::string param, std::string grad) {
  op.role_vars.push_back(RoleVar{std::move(param), std::move(grad)});
}

class Block {
 public:
  explicit Block(int index = 0, int parent = -1) : index_(index), parent_(parent) {}

  int index() const { return index_; }
  int parent() const { return parent_; }

  const std::vector<Var>& vars() const { return vars_; }
  const Var* FindVar(std::string_view name) const;
  Var* FindVar(std::string_view name);
  // Adds a var; returns false (and changes nothing) when the name is already declared.
  bool AddVar(Var var);
  // Removes a var by name; returns whether it existed.
  bool RemoveVar(std::string_view name);

  std::vector<Op> ops;

 private:
  void Reindex();

  int index_;
  int parent_;
  std::vector<Var> vars_;
  std::unordered_map<std::string, size_t> var_index_;
};

// Facts the training passes leave for later passes and the runtime: var names in block 0, ""
// until set. Autodiff sets `loss`; that makes the program a training program.
struct TrainingFacts {
  std::string loss;           // the scalar loss var (autodiff)
  std::string learning_rate;  // the f32[1] learning-rate var (optimizer pass)
  std::string step;           // the i64[1] step counter (optimizer pass)
  std::string optimizer;      // the update op type, e.g. "fleet.adam" (optimizer pass)

  bool empty() const {
    return loss.empty() && learning_rate.empty() && step.empty() && optimizer.empty();
  }
};

// Program-level facts that travel with the program file, so a saved program runs alone.
struct ProgramMeta {
  int64_t opset = 0;         // ONNX default-domain opset the ops follow
  std::string producer;      // who wrote the program ("fleet-import onnx 1.12", ...)
  std::string strategy;      // "", "single", "ps", "collective", "localsgd"
  std::string role;          // "", "trainer", "pserver", "startup"
  std::vector<std::string> endpoints;
  TrainingFacts training;
  // Free-form records (the importer's "onnx.*" keys of ir/meta_keys.h, the recorded strategy).
  // Facts that passes rely on get a typed field instead.
  std::map<std::string, std::string> extra;

  // Autodiff has run: every op must have a role (ir/verify_roles.cc).
  bool IsTraining() const { return !training.loss.empty(); }
};

struct Program {
  std::vector<Block> blocks{Block(0)};
  ProgramMeta meta;
  // Initial values of persistable vars (parameters, constants), by var name.
  std::map<std::string, TensorValue> values;
  // File the program was read from; prefixes error messages.
  std::string source;

  Block& main() { return blocks[0]; }
  const Block& main() const { return blocks[0]; }
  // Appends a new block whose parent is `parent`; returns its index.
  int AddBlock(int parent);
};

// The var `name` declared in `block` or an ancestor (sub-blocks read their parents' vars), or
// nullptr. `block` must belong to `program`.
const Var* FindVisibleVar(const Program& program, const Block& block, std::string_view name);

}  // namespace fleet
