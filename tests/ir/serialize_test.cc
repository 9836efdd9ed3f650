// Binary program files: round trips, validation of hostile files, large values.
#include "ir/serialize.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "program.pb.h"  // generated from ir/program.proto
#include "tests/ir/program_fixtures.h"

namespace fleet {
namespace {

using testing_util::Canonical;
using testing_util::MakeEveryFeatureProgram;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/fleet_serialize_test_" + name;
}

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

TEST(SerializeTest, RoundTripKeepsEveryField) {
  Program p = MakeEveryFeatureProgram();
  std::string bytes = SerializeProgram(p);
  absl::StatusOr<Program> back = ParseProgramBinary(bytes, "every.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(SerializeProgram(*back), bytes);
  EXPECT_EQ(back->source, "every.bin");

  // Spot checks independent of the serializer itself.
  ASSERT_EQ(back->blocks.size(), 3u);
  EXPECT_EQ(back->blocks[1].parent(), 0);
  EXPECT_EQ(back->blocks[2].parent(), 1);
  EXPECT_EQ(back->meta.extra.at("key with space"), "line\nbreak");
  EXPECT_EQ(back->meta.endpoints, p.meta.endpoints);
  const Var* ids = back->main().FindVar("ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->kind, VarKind::kSparseRows);
  EXPECT_FALSE(ids->shape.has_value());
  const Var* loss = back->main().FindVar("loss");
  ASSERT_NE(loss, nullptr);
  ASSERT_TRUE(loss->shape.has_value());
  EXPECT_TRUE(loss->shape->empty());
  EXPECT_EQ(loss->flags, kVarFetch);
  EXPECT_EQ(back->values.at("fc1.w"), p.values.at("fc1.w"));
  const Op& every = back->main().ops[2];
  EXPECT_EQ(every.attrs.size(), p.main().ops[2].attrs.size());
  EXPECT_EQ(std::get<BlockRef>(every.attrs.at("body")).index, 1);
  EXPECT_EQ(std::get<TensorValue>(every.attrs.at("t_f16")),
            std::get<TensorValue>(p.main().ops[2].attrs.at("t_f16")));
  EXPECT_EQ(every.inputs[0].vars, (std::vector<std::string>{"x", "", "y"}));
  EXPECT_EQ(every.role, kRoleBackward | kRoleLoss);
  EXPECT_EQ(back->main().ops[0].loc.node, "fc1");
  EXPECT_TRUE(HasNoRole(back->main().ops[0]));
  EXPECT_EQ(back->main().ops[3].role, kKnownRoles);
  EXPECT_EQ(back->blocks[1].ops[1].role_vars, p.blocks[1].ops[1].role_vars);
  ASSERT_EQ(back->blocks[1].ops[1].role_vars.size(), 2u);
  EXPECT_EQ(back->blocks[1].ops[1].role_vars[0].param, "fc1.w");
  EXPECT_EQ(back->blocks[1].ops[1].role_vars[0].grad, "x");
  EXPECT_EQ(back->meta.training.loss, "loss");
  EXPECT_EQ(back->meta.training.step, "i32");
  EXPECT_EQ(back->meta.training.optimizer, "fleet.sgd");
  EXPECT_EQ(back->meta.training.learning_rate, p.meta.training.learning_rate);
}

// A version-1 file: role 0 meant forward, and the training facts were extra keys.
proto::Program Version1Proto(bool with_backward_op) {
  Program p;
  p.main().AddVar(testing_util::MakeVar("x", DataType::kF32, std::vector<int64_t>{2}, kVarFeed));
  p.main().AddVar(testing_util::MakeVar("y", DataType::kF32, std::vector<int64_t>{2}));
  for (uint32_t role : {0u, static_cast<uint32_t>(kRoleLoss),
                        with_backward_op ? static_cast<uint32_t>(kRoleBackward) : 0u,
                        static_cast<uint32_t>(kRoleLRSchedule)}) {
    Op op;
    op.type = "Relu";
    op.inputs = {{"X", {"x"}}};
    op.outputs = {{"Y", {"y"}}};
    op.role = role;
    p.main().ops.push_back(op);
  }
  p.meta.extra = {{"training.loss", "y"},
                  {"training.learning_rate", "lr"},
                  {"training.step", "step"},
                  {"training.optimizer", "fleet.sgd"},
                  {"onnx.graph", "g"}};
  proto::Program out;
  EXPECT_TRUE(out.ParseFromString(SerializeProgram(p)));
  out.set_version(1);
  return out;
}

TEST(SerializeTest, ReadsVersion1TrainingProgramWithItsMeaning) {
  absl::StatusOr<Program> r = ParseProgramBinary(Version1Proto(true).SerializeAsString(), "v1");
  ASSERT_TRUE(r.ok()) << r.status();
  const std::vector<Op>& ops = r->main().ops;
  EXPECT_EQ(ops[0].role, kRoleForward);
  EXPECT_EQ(ops[1].role, kRoleForward | kRoleLoss);
  EXPECT_EQ(ops[2].role, kRoleBackward);
  EXPECT_EQ(ops[3].role, kRoleLRSchedule);
  EXPECT_EQ(r->meta.training.loss, "y");
  EXPECT_EQ(r->meta.training.learning_rate, "lr");
  EXPECT_EQ(r->meta.training.step, "step");
  EXPECT_EQ(r->meta.training.optimizer, "fleet.sgd");
  EXPECT_EQ(r->meta.extra, (std::map<std::string, std::string>{{"onnx.graph", "g"}}));
  // Written back as version 2, it reads the same.
  absl::StatusOr<Program> again = ParseProgramBinary(SerializeProgram(*r), "v2");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(SerializeProgram(*again), SerializeProgram(*r));
}

TEST(SerializeTest, ReadsVersion1InferenceProgramWithoutRoles) {
  // No backward op: role 0 was nobody's role (an imported model), and stays so.
  absl::StatusOr<Program> r = ParseProgramBinary(Version1Proto(false).SerializeAsString(), "v1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(HasNoRole(r->main().ops[0]));
  EXPECT_EQ(r->main().ops[1].role, kRoleLoss);
  EXPECT_TRUE(HasNoRole(r->main().ops[2]));
}

TEST(SerializeTest, IsDeterministic) {
  Program p = MakeEveryFeatureProgram();
  for (int i = 0; i < 20; ++i) p.meta.extra["k" + std::to_string(i)] = "v";
  EXPECT_EQ(SerializeProgram(p), SerializeProgram(p));
  Program copy = p;
  EXPECT_EQ(SerializeProgram(copy), SerializeProgram(p));
}

TEST(SerializeTest, WriteAndReadFile) {
  const std::string path = TempPath("rw.bin");
  Program p = MakeEveryFeatureProgram();
  ASSERT_TRUE(WriteProgramFile(p, path).ok());
  EXPECT_FALSE(FileExists(path + ".tmp"));
  absl::StatusOr<Program> back = ReadProgramFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->source, path);
  EXPECT_EQ(SerializeProgram(*back), SerializeProgram(p));

  // Overwriting replaces the file in one step.
  p.meta.opset = 18;
  ASSERT_TRUE(WriteProgramFile(p, path).ok());
  back = ReadProgramFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->meta.opset, 18);
  std::remove(path.c_str());
}

TEST(SerializeTest, MissingFileAndUnwritableDirectory) {
  absl::StatusOr<Program> missing = ReadProgramFile(TempPath("does_not_exist.bin"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("does_not_exist.bin"), std::string::npos);

  absl::Status write = WriteProgramFile(Program(), TempPath("no_such_dir/x.bin"));
  EXPECT_FALSE(write.ok());
  EXPECT_NE(write.message().find("no_such_dir/x.bin.tmp"), std::string::npos) << write;
}

TEST(SerializeTest, LargeValueOver64MiB) {
  // 17M f32 elements = 68 MiB, past protobuf's historical 64 MiB stream limit.
  Program p;
  p.main().AddVar(testing_util::MakeVar("big", DataType::kF32, std::vector<int64_t>{17 << 20},
                                        kVarPersistable));
  TensorValue big;
  big.dtype = DataType::kF32;
  big.shape = {17 << 20};
  big.bytes.assign(static_cast<size_t>(17 << 20) * 4, '\x3f');
  big.bytes.front() = '\x01';
  big.bytes.back() = '\x02';
  p.values["big"] = big;
  const std::string path = TempPath("big.bin");
  ASSERT_TRUE(WriteProgramFile(p, path).ok());
  absl::StatusOr<Program> back = ReadProgramFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->values.at("big") == big);
}

// ---- hostile files ----

proto::Program ValidProto() {
  proto::Program p;
  EXPECT_TRUE(p.ParseFromString(SerializeProgram(MakeEveryFeatureProgram())));
  return p;
}

std::string ErrorOf(const proto::Program& p, const std::string& file = "x.bin") {
  absl::StatusOr<Program> r = ParseProgramBinary(p.SerializeAsString(), file);
  if (r.ok()) return "OK";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

TEST(SerializeTest, RejectsBadMagic) {
  proto::Program p = ValidProto();
  p.set_magic("fleet.prgram");
  EXPECT_EQ(ErrorOf(p), "x.bin: not a Fleet program file (bad magic)");
  p.clear_magic();
  EXPECT_EQ(ErrorOf(p), "x.bin: not a Fleet program file (bad magic)");
}

TEST(SerializeTest, RejectsNonProtobuf) {
  absl::StatusOr<Program> r = ParseProgramBinary("\xff\xff\xff\xff garbage", "junk.bin");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "junk.bin: not a Fleet program file (not a valid protobuf message)");
  r = ParseProgramBinary("", "empty.bin");
  EXPECT_EQ(r.status().message(), "empty.bin: not a Fleet program file (bad magic)");
}

TEST(SerializeTest, RejectsOtherVersions) {
  proto::Program p = ValidProto();
  p.set_version(3);
  EXPECT_EQ(ErrorOf(p),
            "x.bin: unsupported program file version 3; this build reads versions 1 to 2 (written "
            "by a newer Fleet)");
  p.set_version(0);
  EXPECT_NE(ErrorOf(p).find("version 0"), std::string::npos);
}

TEST(SerializeTest, RejectsOutOfRangeFields) {
  struct Case {
    const char* what;
    std::function<void(proto::Program&)> mutate;
    const char* message;
  };
  const Case cases[] = {
      {"var dtype",
       [](proto::Program& p) {
         p.mutable_blocks(0)->mutable_vars(0)->set_dtype(static_cast<proto::DType>(99));
       },
       "x.bin: invalid program: block 0 var 'x': dtype 99 is out of range (expected 0..9)"},
      {"negative dtype",
       [](proto::Program& p) {
         p.mutable_blocks(0)->mutable_vars(0)->set_dtype(static_cast<proto::DType>(-1));
       },
       "dtype -1 is out of range"},
      {"var kind", [](proto::Program& p) { p.mutable_blocks(0)->mutable_vars(0)->set_kind(7); },
       "x.bin: invalid program: block 0 var 'x': var kind 7 is out of range (expected 0..1)"},
      {"var flags",
       [](proto::Program& p) { p.mutable_blocks(0)->mutable_vars(0)->set_flags(1u << 9); },
       "var flag bits 0x200 are unknown"},
      {"var dim", [](proto::Program& p) { p.mutable_blocks(0)->mutable_vars(0)->set_shape(0, -5); },
       "dim -5 is negative"},
      {"shape without has_shape",
       [](proto::Program& p) { p.mutable_blocks(0)->mutable_vars(0)->set_has_shape(false); },
       "shape dims given but has_shape is false"},
      {"empty var name",
       [](proto::Program& p) { p.mutable_blocks(0)->mutable_vars(0)->set_name(""); },
       "var has an empty name"},
      {"duplicate var",
       [](proto::Program& p) { *p.mutable_blocks(0)->add_vars() = p.blocks(0).vars(1); },
       "x.bin: invalid program: block 0 var 'fc1.w': duplicate var"},
      {"attr without value",
       [](proto::Program& p) {
         p.mutable_blocks(0)->mutable_ops(1)->mutable_attrs(0)->clear_value();
       },
       "x.bin: invalid program: block 0 op 1 (LayerNormalization) attr 'axis': attribute has no "
       "value"},
      {"duplicate attr",
       [](proto::Program& p) {
         auto* op = p.mutable_blocks(0)->mutable_ops(1);
         *op->add_attrs() = op->attrs(0);
       },
       "attr 'axis': duplicate attribute"},
      {"tensor dtype",
       [](proto::Program& p) {
         for (auto& a : *p.mutable_blocks(0)->mutable_ops(2)->mutable_attrs()) {
           if (a.has_tensor()) a.mutable_tensor()->set_dtype(static_cast<proto::DType>(10));
         }
       },
       "dtype 10 is out of range"},
      {"tensor bytes",
       [](proto::Program& p) {
         for (auto& a : *p.mutable_blocks(0)->mutable_ops(2)->mutable_attrs()) {
           if (a.name() == "t_f32") a.mutable_tensor()->mutable_data()->pop_back();
         }
       },
       "attr 't_f32': tensor f32 with 4 elements has 15 bytes of data; expected 16"},
      {"tensor huge shape",
       [](proto::Program& p) {
         for (auto& a : *p.mutable_blocks(0)->mutable_ops(2)->mutable_attrs()) {
           if (a.name() == "t_f32") {
             a.mutable_tensor()->set_shape(0, int64_t{1} << 40);
             a.mutable_tensor()->set_shape(1, int64_t{1} << 40);
           }
         }
       },
       "has a negative dim or too many elements"},
      {"block ref",
       [](proto::Program& p) {
         for (auto& a : *p.mutable_blocks(0)->mutable_ops(2)->mutable_attrs()) {
           if (a.has_block()) a.set_block(3);
         }
       },
       "attr 'body': block reference ^3 is out of range (program has 3 blocks)"},
      {"block index", [](proto::Program& p) { p.mutable_blocks(1)->set_index(5); },
       "x.bin: invalid program: block 1: block index is 5; expected 1"},
      {"block parent", [](proto::Program& p) { p.mutable_blocks(1)->set_parent(2); },
       "x.bin: invalid program: block 1: parent 2 is out of range (expected -1 or an earlier "
       "block)"},
      {"block 0 parent", [](proto::Program& p) { p.mutable_blocks(0)->set_parent(0); },
       "block 0: parent 0 is out of range"},
      {"no blocks", [](proto::Program& p) { p.clear_blocks(); },
       "x.bin: invalid program: program has no blocks"},
      {"role", [](proto::Program& p) { p.mutable_blocks(0)->mutable_ops(0)->set_role(1u << 12); },
       "block 0 op 0 (MatMul): role bits 0x1000 are unknown"},
      {"role var param",
       [](proto::Program& p) {
         p.mutable_blocks(1)->mutable_ops(1)->mutable_role_vars(0)->clear_param();
       },
       "x.bin: invalid program: block 1 op 1 (fleet.sgd): (parameter, gradient) pair 0 ('', 'x') "
       "has an empty name"},
      {"role var grad",
       [](proto::Program& p) {
         p.mutable_blocks(1)->mutable_ops(1)->add_role_vars()->set_param("fc1.w");
       },
       "block 1 op 1 (fleet.sgd): (parameter, gradient) pair 2 ('fc1.w', '') has an empty name"},
      {"loc",
       [](proto::Program& p) { p.mutable_blocks(0)->mutable_ops(0)->mutable_loc()->set_line(-3); },
       "location line -3 col 0 is negative"},
      {"value bytes",
       [](proto::Program& p) { (*p.mutable_values())["c"].mutable_data()->append("xx"); },
       "x.bin: invalid program: value 'c': tensor f32 with 4 elements has 18 bytes of data; "
       "expected 16"},
      {"value undefined dtype",
       [](proto::Program& p) { (*p.mutable_values())["c"].set_dtype(proto::DTYPE_UNDEFINED); },
       "value 'c': tensor has undefined dtype"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    proto::Program p = ValidProto();
    c.mutate(p);
    std::string error = ErrorOf(p);
    EXPECT_NE(error.find(c.message), std::string::npos) << error;
  }
}

TEST(SerializeTest, ValuePlaceholderWithoutBytesIsAccepted) {
  Program p;
  p.values["w"] = TensorValue{DataType::kF32, {3, 4}, ""};
  absl::StatusOr<Program> back = ParseProgramBinary(SerializeProgram(p), "p.bin");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->values.at("w").shape, (std::vector<int64_t>{3, 4}));
}

// Every truncation and every single-bit flip of a program either loads or fails cleanly; a
// program that loads serializes again to something that loads.
TEST(SerializeTest, TruncatedAndBitFlippedFilesNeverCrash) {
  Program small = MakeEveryFeatureProgram();
  small.values.erase("fc1.w");  // keep the file small so every bit can be flipped
  const std::string bytes = SerializeProgram(small);
  ASSERT_LT(bytes.size(), 8000u);
  int loaded = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::StatusOr<Program> r = ParseProgramBinary(std::string_view(bytes).substr(0, n), "t.bin");
    if (r.ok()) {
      ++loaded;
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(r.status().message().substr(0, 6), "t.bin:");
    }
  }
  EXPECT_LT(loaded, static_cast<int>(bytes.size()) / 2);
  int flipped_ok = 0;
  std::string mutated = bytes;
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    mutated[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    absl::StatusOr<Program> r = ParseProgramBinary(mutated, "f.bin");
    if (r.ok()) {
      ++flipped_ok;
      ASSERT_TRUE(ParseProgramBinary(SerializeProgram(*r), "again.bin").ok());
    } else {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    }
    mutated[bit / 8] = bytes[bit / 8];
  }
  EXPECT_GT(flipped_ok, 0);  // most flips inside names and numbers still load
}

TEST(SerializeTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    absl::StatusOr<Program> r = ParseProgramBinary(junk, "r.bin");
    EXPECT_FALSE(r.ok());
  }
}

TEST(SerializeTest, CorpusFiles) {
  const std::string dir = testing_util::CorpusDir();
  absl::StatusOr<Program> valid = ReadProgramFile(dir + "/valid_program.bin");
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(valid->main().ops.at(0).type, "MatMul");
  EXPECT_TRUE(HasNoRole(valid->main().ops.at(0)));  // a version-1 file without backward ops
  for (const char* name : {"not_a_program.bin", "truncated_program.bin", "bad_magic.bin",
                           "newer_version.bin", "bad_dtype.bin"}) {
    std::string path = dir + "/" + name;
    ASSERT_TRUE(FileExists(path)) << path;
    absl::StatusOr<Program> r = ReadProgramFile(path);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace fleet
