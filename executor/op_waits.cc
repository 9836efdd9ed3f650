#include "executor/op_waits.h"

#include <algorithm>
#include <numeric>

namespace fleet {
namespace {

// Slots that may share memory: joined by declared in-place and alias pairs.
class MemoryClasses {
 public:
  explicit MemoryClasses(size_t num_slots) : parent_(num_slots) {
    std::iota(parent_.begin(), parent_.end(), 0);
  }
  int Find(int s) {
    while (parent_[s] != s) s = parent_[s] = parent_[parent_[s]];
    return s;
  }
  void Join(int a, int b) { parent_[Find(a)] = Find(b); }

 private:
  std::vector<int> parent_;
};

int SlotAt(const std::vector<int>* slots, int i) {
  return i >= 0 && i < static_cast<int>(slots->size()) ? (*slots)[i] : -1;
}

void JoinPairs(const OpSlots& op, const std::vector<std::pair<int, int>>& pairs,
               MemoryClasses& classes) {
  for (auto [input, output] : pairs) {
    int a = SlotAt(op.inputs, input);
    int b = SlotAt(op.outputs, output);
    if (a >= 0 && b >= 0) classes.Join(a, b);
  }
}

bool Touches(const OpSlots& op, int memory_class, MemoryClasses& classes) {
  for (const std::vector<int>* slots : {op.inputs, op.outputs}) {
    for (int s : *slots) {
      if (s >= 0 && classes.Find(s) == memory_class) return true;
    }
  }
  return false;
}

}  // namespace

WaitPlan PlanWaits(const std::vector<OpSlots>& ops, const std::vector<bool>& outlives_run) {
  WaitPlan plan;
  plan.wait_before.resize(ops.size());
  std::vector<int> async_ops;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].traits->async) async_ops.push_back(static_cast<int>(i));
  }
  if (async_ops.empty()) return plan;

  for (int j : async_ops) {
    const std::vector<int>& outputs = *ops[j].outputs;
    auto is_output = [&](int s) {
      return s >= 0 && std::find(outputs.begin(), outputs.end(), s) != outputs.end();
    };
    for (size_t k = j + 1; k < ops.size(); ++k) {
      const std::vector<int>& reads = *ops[k].inputs;
      if (std::any_of(reads.begin(), reads.end(), is_output)) {
        plan.wait_before[k].push_back(j);
        break;
      }
    }
    if (std::any_of(outputs.begin(), outputs.end(),
                    [&](int s) { return s >= 0 && outlives_run[s]; })) {
      plan.wait_at_end.push_back(j);
    }
  }

  MemoryClasses classes(outlives_run.size());
  for (const OpSlots& op : ops) {
    JoinPairs(op, op.traits->in_place, classes);
    JoinPairs(op, op.traits->aliases, classes);
  }
  for (size_t w = 0; w < ops.size(); ++w) {
    for (auto [input, output] : ops[w].traits->in_place) {
      int s = SlotAt(ops[w].inputs, input);
      if (s < 0) continue;
      const int memory_class = classes.Find(s);
      // Any position: a pending op after this one is the previous run's.
      for (int j : async_ops) {
        if (j != static_cast<int>(w) && Touches(ops[j], memory_class, classes)) {
          plan.wait_before[w].push_back(j);
        }
      }
    }
  }
  for (std::vector<int>& waits : plan.wait_before) {
    std::sort(waits.begin(), waits.end());
    waits.erase(std::unique(waits.begin(), waits.end()), waits.end());
  }
  return plan;
}

}  // namespace fleet
