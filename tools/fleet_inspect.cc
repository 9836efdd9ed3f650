// fleet-inspect: shows an ONNX model, a Fleet program, or a job (a job folder or job text).
//
//   fleet-inspect FILE            every program in Fleet's text form, each under a line
//                                 # program "NAME" (ir/job_text.h)
//   fleet-inspect FILE --summary  per program: op counts, parameter count and bytes, inputs and
//                                 outputs, and a parameter-server job's layout
//                                 (tools/ps_summary.h)
//   fleet-inspect FILE --dot      Graphviz of block 0 of the main program (render with
//                                 `dot -Tsvg`)
//   fleet-inspect job/ --program startup   only that program
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ir/job_text.h"
#include "tools/human_bytes.h"
#include "tools/program_loader.h"
#include "tools/ps_summary.h"
#include "tools/version.h"

namespace fleet {
namespace {

std::string VarType(const Var& v) {
  if (!v.shape.has_value()) return absl::StrCat(DataTypeName(v.dtype), "[...]");
  return absl::StrCat(DataTypeName(v.dtype), "[",
                      absl::StrJoin(*v.shape, ",",
                                    [](std::string* out, int64_t d) {
                                      absl::StrAppend(out,
                                                      d < 0 ? std::string("?") : std::to_string(d));
                                    }),
                      "]");
}

void PrintSummary(const Program& program, const std::string& path, std::ostream& out) {
  // One program's summary; the caller puts the program's header line before it.
  std::map<std::string, int> op_counts;
  size_t ops = 0;
  for (const Block& b : program.blocks) {
    for (const Op& op : b.ops) {
      ++op_counts[op.type];
      ++ops;
    }
  }
  int64_t params = 0, param_elements = 0, param_bytes = 0;
  for (const auto& [name, value] : program.values) {
    ++params;
    param_elements += value.NumElements();
    param_bytes += static_cast<int64_t>(value.bytes.size());
  }
  out << path << ": " << program.blocks.size() << " block(s), " << ops << " ops, "
      << program.main().vars().size() << " vars (opset " << program.meta.opset << ")\n";
  out << "parameters: " << params << " tensors, " << param_elements << " elements, "
      << HumanBytes(static_cast<double>(param_bytes)) << "\n";
  for (const Var& v : program.main().vars()) {
    if (v.Has(kVarFeed)) out << "input  " << v.name << ": " << VarType(v) << "\n";
  }
  for (const Var& v : program.main().vars()) {
    if (v.Has(kVarFetch)) out << "output " << v.name << ": " << VarType(v) << "\n";
  }
  std::vector<std::pair<int, std::string>> sorted;
  for (const auto& [type, n] : op_counts) sorted.emplace_back(-n, type);
  std::sort(sorted.begin(), sorted.end());
  out << "ops by type:\n";
  for (const auto& [neg, type] : sorted) out << absl::StrFormat("  %6d  %s\n", -neg, type);
}

std::string DotEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Ops are boxes, feeds and fetches ellipses; an edge per var from its writer to each reader.
void PrintDot(const Program& program, std::ostream& out) {
  const Block& b = program.main();
  out << "digraph program {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
  std::map<std::string, std::string> writer;
  for (const Var& v : b.vars()) {
    if (v.Has(kVarFeed)) {
      writer[v.name] = "in_" + std::to_string(writer.size());
      out << "  " << writer[v.name] << " [shape=ellipse, label=\"" << DotEscape(v.name) << "\\n"
          << VarType(v) << "\"];\n";
    }
  }
  for (size_t i = 0; i < b.ops.size(); ++i) {
    const Op& op = b.ops[i];
    std::string id = "op" + std::to_string(i);
    out << "  " << id << " [shape=box, label=\"" << DotEscape(op.type)
        << (op.name.empty() ? "" : "\\n" + DotEscape(op.name)) << "\"];\n";
    for (const std::string& in : op.InputVars()) {
      auto it = writer.find(in);
      if (it == writer.end()) continue;  // parameters and constants are not drawn
      const Var* v = b.FindVar(in);
      out << "  " << it->second << " -> " << id << " [label=\"" << (v ? VarType(*v) : std::string())
          << "\", fontsize=8];\n";
    }
    for (const std::string& o : op.OutputVars()) writer[o] = id;
  }
  int n = 0;
  for (const Var& v : b.vars()) {
    if (!v.Has(kVarFetch) || !writer.count(v.name)) continue;
    std::string id = "out" + std::to_string(n++);
    out << "  " << id << " [shape=ellipse, label=\"" << DotEscape(v.name) << "\"];\n";
    out << "  " << writer[v.name] << " -> " << id << ";\n";
  }
  out << "}\n";
}

}  // namespace
}  // namespace fleet

int main(int argc, char** argv) {
  CLI::App app{"fleet-inspect: print an ONNX model, a Fleet program or a job in Fleet's text form"};
  std::string path, output, only;
  bool summary = false, dot = false;
  app.add_option("file", path,
                 "an .onnx model, a Fleet program or job file (binary or text), or a job folder")
      ->required();
  app.add_flag("--summary", summary,
               "op counts, parameter count and bytes, inputs and outputs, parameter-server layout");
  app.add_flag("--dot", dot, "Graphviz of the main block instead of text");
  app.add_option("--program", only,
                 "show only this program of the job (main, startup, pserver.0, ...); --dot "
                 "shows the main program unless this names another");
  app.add_option("-o,--output", output, "write to this file instead of standard output");
  app.footer(
      "A job folder (from fleet-transpile) holds manifest.pbtxt, which names each program and "
      "its file (main.program, startup.program, ...). Every program of the job is shown, in "
      "name order, each under a line # program \"NAME\"; a model or a single program is the "
      "job's main program.");
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-inspect"); });
  CLI11_PARSE(app, argc, argv);
  if (summary && dot) {
    std::cerr << "fleet-inspect: error: --summary and --dot exclude each other\n";
    return 2;
  }
  auto fail = [](const auto& message) {
    std::cerr << "fleet-inspect: error: " << message << "\n";
    return 1;
  };
  absl::StatusOr<fleet::Job> job = fleet::LoadJob(path);
  if (!job.ok()) return fail(job.status().message());
  if (dot && only.empty()) only = fleet::kMainProgram;
  if (!only.empty()) {
    fleet::Program* program = job->Find(only);
    if (program == nullptr) {
      std::string known;
      for (const auto& [name, p] : job->programs) known += (known.empty() ? "" : ", ") + name;
      return fail(absl::StrCat(path, " has no program \"", only, "\"; it has ", known));
    }
    fleet::Job selected;
    selected.programs.emplace(only, std::move(*program));
    job->programs = std::move(selected.programs);
  }
  std::ofstream file;
  if (!output.empty()) {
    file.open(output);
    if (!file) return fail(output + ": cannot write file");
  }
  std::ostream& out = output.empty() ? std::cout : file;
  if (summary) {
    for (const auto& [name, program] : job->programs) {
      out << fleet::ProgramHeader(name) << "\n";
      fleet::PrintSummary(program, path, out);
      fleet::PrintPsSummary(program, out);
    }
  } else if (dot) {
    fleet::PrintDot(job->programs.begin()->second, out);
  } else {
    out << fleet::PrintJob(*job);
  }
  return 0;
}
