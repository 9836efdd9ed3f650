// Parsing Op::device into a typed device, and the verifier's check of it.
#include "ir/device.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/verify.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

TEST(DeviceIdTest, ParsesKindAndOrdinal) {
  struct Case {
    const char* text;
    Device type;
    int ordinal;
    const char* printed;
  };
  for (const Case& c :
       {Case{"cpu", Device::kCpu, 0, "cpu"}, Case{"cpu:0", Device::kCpu, 0, "cpu"},
        Case{"cuda", Device::kCuda, 0, "cuda:0"}, Case{"cuda:3", Device::kCuda, 3, "cuda:3"}}) {
    absl::StatusOr<DeviceId> d = ParseDeviceId(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status();
    EXPECT_EQ(d->type, c.type) << c.text;
    EXPECT_EQ(d->ordinal, c.ordinal) << c.text;
    EXPECT_EQ(d->ToString(), c.printed);
    EXPECT_EQ(*ParseDeviceId(d->ToString()), *d);  // the printed form reads back
  }
}

TEST(DeviceIdTest, BadStringsSayWhatIsAccepted) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c : {Case{"gpu:0", "no device kind 'gpu'"}, Case{"", "no device kind ''"},
                        Case{"cuda:", "no ordinal after ':'"}, Case{"cuda:x", "not a number"},
                        Case{"cuda:-1", "not a number"}, Case{"cuda:99999", "not a number"},
                        Case{"cpu:1", "the host is cpu:0"}}) {
    absl::StatusOr<DeviceId> d = ParseDeviceId(c.text);
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(d.status().message()),
                HasSubstr(std::string("unknown device '") + c.text + "'"));
    EXPECT_THAT(std::string(d.status().message()), HasSubstr(c.why));
    EXPECT_THAT(std::string(d.status().message()), HasSubstr("expected cpu, cuda, or cuda:N"));
  }
}

TEST(DeviceIdTest, VerifierRejectsAnOpDeviceThatDoesNotParse) {
  Program p;
  Var x;
  x.name = "x";
  x.dtype = DataType::kF32;
  x.flags = kVarFeed;
  Var y = x;
  y.name = "y";
  y.flags = kVarFetch;
  p.main().AddVar(x);
  p.main().AddVar(y);
  Op relu;
  relu.type = "Relu";
  relu.name = "r";
  relu.inputs = {{"X", {"x"}}};
  relu.outputs = {{"Y", {"y"}}};
  relu.device = "cuda:1";
  p.main().ops.push_back(relu);
  EXPECT_TRUE(Verify(p).ok()) << Verify(p);

  p.main().ops[0].device = "tpu";
  absl::Status status = Verify(p);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("op 'r' (Relu): unknown device 'tpu'"));
}

}  // namespace
}  // namespace fleet
