// Fleet::InitDeviceCommunicator: two workers of a collective job, as threads, meet at their
// master through the Fleet API, then each makes its device communicator from the options the
// Fleet hands its factory. The factory here joins a shared-memory group (a real communicator
// over the job's real store), so the options must carry the right rank, size, store and prefix
// for the two device communicators to find each other; their collectives are then counted with
// the host's in CollectiveStats.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/fleet.h"
#include "runtime/launch/free_ports.h"
#include "tests/runtime/collective/collective_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing::RunRanks;

constexpr auto kDeadline = std::chrono::seconds(30);

Role Worker(int index, int num_workers, const std::string& master) {
  Role role;
  role.kind = RoleKind::kWorker;
  role.index = index;
  role.num_workers = num_workers;
  role.master = master;
  role.maker = "test";
  return role;
}

FleetOptions Options() {
  FleetOptions options;
  options.rendezvous_timeout = kDeadline;
  options.collective_timeout = kDeadline;
  options.transport = Transport::kShm;
  return options;
}

// `values` reduced to their mean over `comm`'s group, in place; the result.
std::vector<float> Mean(Communicator& comm, std::vector<float> values) {
  Tensor t(DataType::kF32, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<float>());
  absl::StatusOr<std::shared_ptr<Event>> done = comm.AllReduce({t}, ReduceOp::kMean);
  EXPECT_TRUE(done.ok()) << done.status();
  if (!done.ok()) return {};
  absl::Status waited = (*done)->Wait(Clock::now() + kDeadline);
  EXPECT_TRUE(waited.ok()) << waited;
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

TEST(FleetDeviceCommunicatorTest, EveryWorkerJoinsTheDeviceGroupThroughTheJobsStore) {
  absl::StatusOr<std::vector<int>> ports = launch::PickFreePorts("127.0.0.1", 1);
  ASSERT_TRUE(ports.ok()) << ports.status();
  const std::string master = absl::StrCat("127.0.0.1:", (*ports)[0]);
  std::vector<CommunicatorOptions> given(2);
  std::vector<std::vector<float>> host_means(2), device_means(2);
  std::vector<CommunicatorStats> stats(2);
  RunRanks(2, [&](int rank) {
    absl::StatusOr<std::unique_ptr<Fleet>> fleet = Fleet::Init(Worker(rank, 2, master), Options());
    ASSERT_TRUE(fleet.ok()) << fleet.status();
    ASSERT_TRUE((*fleet)->InitWorker().ok());
    absl::Status joined = (*fleet)->InitDeviceCommunicator(
        [&given, rank](const CommunicatorOptions& options) {
          given[rank] = options;
          return CreateCommunicator(options);
        });
    ASSERT_TRUE(joined.ok()) << joined;
    Communicator* on_device = (*fleet)->device_communicator();
    ASSERT_NE(on_device, nullptr);
    ASSERT_NE(on_device, (*fleet)->communicator());
    EXPECT_EQ((*fleet)->env()->Get<DeviceCommunicator>()->communicator.get(), on_device);
    const float r = static_cast<float>(rank);
    host_means[rank] = Mean(*(*fleet)->communicator(), {r, 4 * r});
    device_means[rank] = Mean(*on_device, {2 * r, -r, 8});
    stats[rank] = (*fleet)->CollectiveStats();
    EXPECT_TRUE((*fleet)->StopWorker().ok());
  });
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(given[rank].rank, rank);
    EXPECT_EQ(given[rank].size, 2);
    EXPECT_EQ(given[rank].prefix, "fleet/device");
    EXPECT_EQ(given[rank].timeout, kDeadline);
    EXPECT_EQ(host_means[rank], (std::vector<float>{0.5f, 2}));
    EXPECT_EQ(device_means[rank], (std::vector<float>{1, -0.5f, 8}));
    // One average on each communicator; StopWorker's barrier came after the snapshot.
    EXPECT_EQ(stats[rank][CollectiveKind::kAllReduce].calls, 2) << rank;
    EXPECT_EQ(stats[rank][CollectiveKind::kAllReduce].bytes, (2 + 3) * 4) << rank;
  }
}

TEST(FleetDeviceCommunicatorTest, ItNeedsInitWorkerFirstAndReportsTheFactorysError) {
  absl::StatusOr<std::unique_ptr<Fleet>> fleet = Fleet::Init(Worker(0, 1, ""), Options());
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  auto make = [](const CommunicatorOptions& options) { return CreateCommunicator(options); };
  absl::Status early = (*fleet)->InitDeviceCommunicator(make);
  EXPECT_TRUE(absl::IsFailedPrecondition(early)) << early;
  EXPECT_THAT(std::string(early.message()), HasSubstr("needs InitWorker of a collective job"));

  ASSERT_TRUE((*fleet)->InitWorker().ok());
  absl::Status failed = (*fleet)->InitDeviceCommunicator(
      [](const CommunicatorOptions&) -> absl::StatusOr<std::shared_ptr<Communicator>> {
        return absl::UnavailableError("no GPU for NCCL");
      });
  EXPECT_TRUE(absl::IsUnavailable(failed)) << failed;
  EXPECT_THAT(std::string(failed.message()),
              HasSubstr("worker.0: device communicator: no GPU for NCCL"));
  EXPECT_EQ((*fleet)->device_communicator(), nullptr);
  EXPECT_TRUE(absl::IsInvalidArgument((*fleet)->InitDeviceCommunicator(nullptr)));
  EXPECT_TRUE((*fleet)->StopWorker().ok());
}

}  // namespace
}  // namespace fleet
