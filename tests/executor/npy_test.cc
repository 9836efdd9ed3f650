#include "executor/npy.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("fleet_npy_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(NpyTest, RoundTripsEveryDtype) {
  for (DataType t : {DataType::kF32, DataType::kF64, DataType::kF16, DataType::kI64,
                     DataType::kI32, DataType::kI8, DataType::kU8, DataType::kBool}) {
    Tensor x(t, {2, 3});
    for (size_t i = 0; i < x.nbytes(); ++i) static_cast<char*>(x.raw_data())[i] = static_cast<char>(i % 2);
    std::string path = TempPath("rt.npy");
    ASSERT_TRUE(WriteNpy(path, x).ok());
    auto back = ReadNpy(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->dtype(), t);
    EXPECT_EQ(back->shape(), x.shape());
    EXPECT_EQ(std::string(static_cast<const char*>(back->raw_data()), back->nbytes()),
              std::string(static_cast<const char*>(x.raw_data()), x.nbytes()));
    std::filesystem::remove(path);
  }
}

// Bytes as NumPy writes them: np.save(f, np.arange(3, dtype=np.int32)) — header padded to 64.
TEST(NpyTest, ReadsNumpyWrittenHeaderAndScalars) {
  std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + char(0) + header;
  int32_t data[3] = {0, 1, 2};
  bytes.append(reinterpret_cast<char*>(data), sizeof(data));
  auto t = ParseNpy(bytes, "a.npy");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape(), std::vector<int64_t>{3});
  EXPECT_EQ(t->data<int32_t>()[2], 2);
  std::string scalar_header = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n";
  std::string scalar = std::string("\x93NUMPY\x01\x00", 8) + char(scalar_header.size()) + char(0) +
                       scalar_header + std::string(8, '\0');
  auto s = ParseNpy(scalar, "s.npy");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rank(), 0);
}

TEST(NpyTest, BadFilesNameTheProblem) {
  EXPECT_THAT(std::string(ParseNpy("hello", "x.npy").status().message()),
              HasSubstr("x.npy: not an .npy file"));
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
  std::string truncated = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + char(0) +
                          header + std::string(8, '\0');
  EXPECT_THAT(std::string(ParseNpy(truncated, "t.npy").status().message()),
              HasSubstr("truncated"));
  std::string fortran = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n";
  EXPECT_THAT(std::string(ParseNpy(std::string("\x93NUMPY\x01\x00", 8) + char(fortran.size()) +
                                       char(0) + fortran + std::string(4, '\0'),
                                   "f.npy")
                              .status()
                              .message()),
              HasSubstr("Fortran"));
  std::string complex = "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n";
  EXPECT_THAT(std::string(ParseNpy(std::string("\x93NUMPY\x01\x00", 8) + char(complex.size()) +
                                       char(0) + complex + std::string(8, '\0'),
                                   "c.npy")
                              .status()
                              .message()),
              HasSubstr("'<c8' is unsupported"));
  EXPECT_EQ(ReadNpy(TempPath("missing.npy")).status().code(), absl::StatusCode::kNotFound);
}

// A zero dim makes the payload empty, but the dims beside it must still fit one tensor: such a
// header used to pass the size check and then abort in Tensor's constructor (found by fuzzing).
TEST(NpyTest, ZeroDimDoesNotHideHugeDims) {
  auto npy = [](const std::string& shape) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n";
    return std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + char(0) + header;
  };
  auto huge = ParseNpy(npy("(93, 1, 990001919, 0, 511627776)"), "z.npy");
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("z.npy: shape [93,1,990001919,0,"));
  EXPECT_THAT(std::string(huge.status().message()), HasSubstr("too large"));
  auto empty = ParseNpy(npy("(3, 0, 7)"), "e.npy");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->shape(), (std::vector<int64_t>{3, 0, 7}));
  EXPECT_EQ(empty->numel(), 0);
}

}  // namespace
}  // namespace fleet
