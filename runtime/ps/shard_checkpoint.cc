#include "runtime/ps/shard_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "executor/npy.h"
#include "ir/status_macros.h"
#include "nlohmann/json.hpp"

namespace fleet::ps {
namespace {

constexpr char kFormat[] = "fleet.ps_shard";
constexpr int kVersion = 1;

absl::Status Write(const std::string& folder, const std::string& file, const Tensor& tensor) {
  absl::Status status = WriteNpy(folder + "/" + file, tensor);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(folder, "/", file, ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Read(const std::string& folder, const nlohmann::json& file) {
  if (!file.is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(folder, "/manifest.json: a file entry is ",
                                                   file.dump(), "; expected a file name"));
  }
  const std::string name = file.get<std::string>();
  if (name.find('/') != std::string::npos || name.empty() || name[0] == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat(folder, "/manifest.json: file \"", name, "\" is not a plain file name"));
  }
  return ReadNpy(folder + "/" + name);
}

}  // namespace

std::string ShardFolder(const std::string& dir, int server) {
  return absl::StrCat(dir, "/pserver.", server);
}

absl::Status WriteShard(const std::string& folder, int server, int num_servers,
                        const ServerCore::Contents& contents) {
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot create ", folder, ": ", error.message()));
  }
  nlohmann::json blocks = nlohmann::json::array();
  for (const ServerCore::BlockContents& block : contents.blocks) {
    const std::string base = absl::StrCat("block.", block.block_id);
    FLEET_RETURN_IF_ERROR(Write(folder, base + ".npy", block.value));
    nlohmann::json states = nlohmann::json::array();
    for (size_t s = 0; s < block.states.size(); ++s) {
      const std::string file = absl::StrCat(base, ".state", s, ".npy");
      FLEET_RETURN_IF_ERROR(Write(folder, file, block.states[s]));
      states.push_back(file);
    }
    blocks.push_back({{"id", block.block_id},
                      {"updates", block.updates},
                      {"value", base + ".npy"},
                      {"states", states}});
  }
  nlohmann::json tables = nlohmann::json::array();
  for (const auto& [id, table] : contents.tables) {
    const std::string base = absl::StrCat("table.", id);
    FLEET_RETURN_IF_ERROR(Write(folder, base + ".ids.npy", table.ids));
    FLEET_RETURN_IF_ERROR(Write(folder, base + ".rows.npy", table.rows));
    nlohmann::json whole = nlohmann::json::array();
    for (size_t s = 0; s < table.whole_states.size(); ++s) {
      const std::string file = absl::StrCat(base, ".whole", s, ".npy");
      FLEET_RETURN_IF_ERROR(Write(folder, file, table.whole_states[s]));
      whole.push_back(file);
    }
    tables.push_back({{"id", id},
                      {"updates", table.updates},
                      {"ids", base + ".ids.npy"},
                      {"rows", base + ".rows.npy"},
                      {"whole", whole}});
  }
  const nlohmann::json manifest = {{"format", kFormat},
                                   {"version", kVersion},
                                   {"server", server},
                                   {"num_servers", num_servers},
                                   {"applied_step", contents.applied_step},
                                   {"blocks", blocks},
                                   {"tables", tables}};
  const std::string path = folder + "/manifest.json";
  std::ofstream out(path, std::ios::trunc);
  out << manifest.dump(1) << "\n";
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<ServerCore::Contents> ReadShard(const std::string& folder, int server,
                                               int num_servers) {
  const std::string path = folder + "/manifest.json";
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        path, " does not exist (hint: is this a parameter-server checkpoint of a job with ",
        num_servers, " servers?)"));
  }
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
  };
  if (manifest.is_discarded() || !manifest.is_object() || manifest.value("format", "") != kFormat) {
    return bad(absl::StrCat("not a ", kFormat, " manifest"));
  }
  if (manifest.value("version", 0) != kVersion) {
    return bad(
        absl::StrCat("version ", manifest.value("version", 0), "; this build reads ", kVersion));
  }
  if (manifest.value("server", -1) != server || manifest.value("num_servers", -1) != num_servers) {
    return bad(absl::StrCat("the shard of server ", manifest.value("server", -1), " of ",
                            manifest.value("num_servers", -1), "; this is server ", server, " of ",
                            num_servers));
  }
  ServerCore::Contents contents;
  contents.applied_step = manifest.value("applied_step", int64_t{-1});
  const nlohmann::json& blocks = manifest["blocks"];
  const nlohmann::json& tables = manifest["tables"];
  if (!blocks.is_array() || !tables.is_array()) return bad("blocks and tables must be lists");
  for (const nlohmann::json& entry : blocks) {
    if (!entry.is_object() || !entry["id"].is_number_integer() || !entry["states"].is_array()) {
      return bad(absl::StrCat("block entry ", entry.dump(), " is malformed"));
    }
    ServerCore::BlockContents block;
    block.block_id = entry["id"].get<int64_t>();
    block.updates = entry.value("updates", int64_t{0});
    FLEET_ASSIGN_OR_RETURN(block.value, Read(folder, entry["value"]));
    for (const nlohmann::json& file : entry["states"]) {
      FLEET_ASSIGN_OR_RETURN(Tensor state, Read(folder, file));
      block.states.push_back(std::move(state));
    }
    contents.blocks.push_back(std::move(block));
  }
  for (const nlohmann::json& entry : tables) {
    if (!entry.is_object() || !entry["id"].is_number_integer() || !entry["whole"].is_array()) {
      return bad(absl::StrCat("table entry ", entry.dump(), " is malformed"));
    }
    SparseTable::Contents table;
    table.updates = entry.value("updates", int64_t{0});
    FLEET_ASSIGN_OR_RETURN(table.ids, Read(folder, entry["ids"]));
    FLEET_ASSIGN_OR_RETURN(table.rows, Read(folder, entry["rows"]));
    for (const nlohmann::json& file : entry["whole"]) {
      FLEET_ASSIGN_OR_RETURN(Tensor state, Read(folder, file));
      table.whole_states.push_back(std::move(state));
    }
    contents.tables.emplace_back(entry["id"].get<int64_t>(), std::move(table));
  }
  return contents;
}

}  // namespace fleet::ps
