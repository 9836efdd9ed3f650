// The parameter-server summary of fleet-inspect (tools/ps_summary.h).
#include "tools/ps_summary.h"

#include <algorithm>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fleet {
namespace {

const std::vector<int64_t>& Ints(const Op& op, const char* name) {
  static const std::vector<int64_t> kNone;
  auto it = op.attrs.find(name);
  if (it == op.attrs.end()) return kNone;
  const auto* ints = std::get_if<std::vector<int64_t>>(&it->second);
  return ints != nullptr ? *ints : kNone;
}

std::string Text(const AttrValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return absl::StrCat(*i);
  if (const auto* f = std::get_if<float>(&value)) return absl::StrCat(*f);
  if (const auto* s = std::get_if<std::string>(&value)) return absl::StrCat("\"", *s, "\"");
  return "...";
}

std::string StringAttr(const Op& op, const char* name) {
  auto it = op.attrs.find(name);
  const auto* s = it == op.attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
  return s != nullptr ? *s : "";
}

// "f32[136,400]", "f32" for an unknown rank.
std::string TypeOf(const Block& block, const std::string& name) {
  const Var* v = block.FindVar(name);
  if (v == nullptr) return "?";
  if (!v->shape) return DataTypeName(v->dtype);
  return absl::StrCat(DataTypeName(v->dtype), "[",
                      absl::StrJoin(*v->shape, ",",
                                    [](std::string* out, int64_t d) {
                                      absl::StrAppend(out, d < 0 ? "?" : absl::StrCat(d));
                                    }),
                      "]");
}

std::vector<std::string> Vars(const Op& op, const char* slot, bool input) {
  const Slot* s = input ? op.FindInput(slot) : op.FindOutput(slot);
  return s != nullptr ? s->vars : std::vector<std::string>{};
}

// Each dense parameter of a trainer op with its blocks, rows and servers.
void PrintDenseLayout(const Block& block, const Op& pull, std::ostream& out) {
  const std::vector<std::string> params = Vars(pull, "Out", false);
  const std::vector<int64_t>& id = Ints(pull, "block_id");
  const std::vector<int64_t>& param = Ints(pull, "block_param");
  const std::vector<int64_t>& begin = Ints(pull, "block_begin");
  const std::vector<int64_t>& rows = Ints(pull, "block_rows");
  const std::vector<int64_t>& server = Ints(pull, "block_server");
  const size_t n = std::min({id.size(), param.size(), begin.size(), rows.size(), server.size()});
  std::set<int64_t> servers(server.begin(), server.end());
  out << "parameter server (mode " << StringAttr(pull, "mode") << "): " << n
      << " dense block(s) on server(s) " << absl::StrJoin(servers, ", ") << ", pulled "
      << (pull.FindInput("Step") != nullptr ? "after each step" : "at startup") << "\n";
  for (size_t p = 0; p < params.size(); ++p) {
    std::vector<std::string> blocks;
    for (size_t b = 0; b < n; ++b) {
      if (param[b] != static_cast<int64_t>(p)) continue;
      blocks.push_back(absl::StrCat("block ", id[b], " rows ", begin[b], "-",
                                    begin[b] + rows[b] - 1, " on server ", server[b]));
    }
    out << "  " << params[p] << " " << TypeOf(block, params[p]) << ": "
        << absl::StrJoin(blocks, ", ") << "\n";
  }
}

void PrintServer(const Program& program, const Op& serve, std::ostream& out) {
  const Block& block = program.main();
  const std::vector<std::string> params = Vars(serve, "Params", true);
  const std::vector<std::string> tables = Vars(serve, "Tables", true);
  out << "parameter server (mode " << StringAttr(serve, "mode") << "): serves " << params.size()
      << " dense block(s) and " << tables.size() << " table(s); rows a table lacks start from "
      << StringAttr(serve, "row_init") << "\n";
  auto update = serve.attrs.find("update");
  const BlockRef* ref =
      update == serve.attrs.end() ? nullptr : std::get_if<BlockRef>(&update->second);
  if (ref != nullptr && ref->index > 0 && ref->index < static_cast<int>(program.blocks.size())) {
    std::vector<std::string> ops;
    for (const Op& op : program.blocks[static_cast<size_t>(ref->index)].ops) {
      std::vector<std::string> attrs;
      for (const auto& [name, value] : op.attrs) attrs.push_back(name + " = " + Text(value));
      ops.push_back(absl::StrCat(op.type, " {", absl::StrJoin(attrs, ", "), "}"));
    }
    out << "  update (block " << ref->index << "): " << absl::StrJoin(ops, "; ") << "\n";
    std::vector<std::string> states;
    const Block& rule = program.blocks[static_cast<size_t>(ref->index)];
    const std::vector<int64_t>& rowwise = Ints(serve, "state_rowwise");
    auto init = serve.attrs.find("state_init");
    const auto* inits =
        init == serve.attrs.end() ? nullptr : std::get_if<std::vector<float>>(&init->second);
    // The states are the feed vars after step, param and grad, in order.
    size_t feed = 0;
    for (const Var& v : rule.vars()) {
      if (!v.Has(kVarFeed) || feed++ < 3) continue;
      const size_t k = feed - 4;
      states.push_back(absl::StrCat(
          v.name, " (", k < rowwise.size() && rowwise[k] ? "rowwise" : "whole", ", starts at ",
          inits != nullptr && k < inits->size() ? absl::StrCat((*inits)[k]) : "?", ")"));
    }
    if (!states.empty()) out << "  states: " << absl::StrJoin(states, ", ") << "\n";
  }
  const std::vector<int64_t>& ids = Ints(serve, "block_id");
  for (size_t b = 0; b < params.size(); ++b) {
    out << "  block " << (b < ids.size() ? absl::StrCat(ids[b]) : "?") << " " << params[b] << " "
        << TypeOf(block, params[b]) << "\n";
  }
  const std::vector<int64_t>& table_ids = Ints(serve, "table_id");
  for (size_t t = 0; t < tables.size(); ++t) {
    out << "  table " << (t < table_ids.size() ? absl::StrCat(table_ids[t]) : "?") << " "
        << tables[t] << " " << TypeOf(block, tables[t]) << "\n";
  }
}

}  // namespace

void PrintPsSummary(const Program& program, std::ostream& out) {
  const Op* serve = nullptr;
  const Op* pull_dense = nullptr;
  const Op* push = nullptr;
  const Op* pull_sparse = nullptr;
  for (const Op& op : program.main().ops) {
    if (op.type == "fleet.ps_serve") serve = &op;
    if (op.type == "fleet.ps_pull_dense") pull_dense = &op;
    if (op.type == "fleet.ps_push") push = &op;
    if (op.type == "fleet.ps_pull_sparse") pull_sparse = &op;
  }
  if (serve != nullptr) PrintServer(program, *serve, out);
  if (pull_dense != nullptr) PrintDenseLayout(program.main(), *pull_dense, out);
  if (push != nullptr) {
    const std::vector<std::string> step = Vars(*push, "Step", true);
    out << "  push after backward: " << Vars(*push, "Dense", true).size()
        << " dense gradient(s) and " << Vars(*push, "SparseGrad", true).size()
        << " looked-up rows' gradient(s), numbered by " << (step.empty() ? "?" : step[0]) << "\n";
  }
  if (pull_sparse != nullptr) {
    const std::vector<std::string> ids = Vars(*pull_sparse, "Ids", true);
    const std::vector<std::string> outs = Vars(*pull_sparse, "Out", false);
    const std::vector<int64_t>& tables = Ints(*pull_sparse, "table_id");
    const std::vector<int64_t>& widths = Ints(*pull_sparse, "table_dim");
    const std::vector<int64_t>& heights = Ints(*pull_sparse, "table_rows");
    out << "  " << ids.size() << " lookup(s), pulled together before forward:\n";
    for (size_t i = 0; i < ids.size() && i < outs.size(); ++i) {
      out << "    " << ids[i] << " -> " << outs[i] << ": table "
          << (i < tables.size() ? absl::StrCat(tables[i]) : "?") << ", width "
          << (i < widths.size() ? absl::StrCat(widths[i]) : "?")
          << (i < heights.size() && heights[i] > 0 ? absl::StrCat(", ", heights[i], " rows") : "")
          << "\n";
    }
  }
}

}  // namespace fleet
