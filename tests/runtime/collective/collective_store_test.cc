// Rendezvous stores: set/get/wait on both kinds, deadlines that name what is missing, a server
// that starts after its clients, and a TCP server that survives clients speaking nonsense.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/collective/store.h"
#include "runtime/collective/store_wire.h"
#include "tests/runtime/collective/collective_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;
using testing::MakeStores;
using testing::RunRanks;
using testing::StoreKind;
using testing::TempFolder;
using SteadyClock = std::chrono::steady_clock;

class RendezvousStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  // Two clients of one store, as two ranks hold them.
  std::vector<std::shared_ptr<Store>> Stores(int n) {
    return MakeStores(GetParam(), n, folder_.path());
  }

 private:
  TempFolder folder_;
};

TEST_P(RendezvousStoreTest, SetGetAndWaitAcrossClients) {
  auto stores = Stores(2);
  ASSERT_EQ(stores.size(), 2u);
  EXPECT_TRUE(absl::IsNotFound(stores[1]->Get("a").status()));
  const std::string binary("x\0y/\xff", 5);  // values are bytes; keys may hold any character
  ASSERT_TRUE(stores[0]->Set("job/a b", binary).ok());
  auto got = stores[1]->Get("job/a b");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, binary);
  ASSERT_TRUE(stores[1]->Set("job/a b", "replaced").ok());
  EXPECT_EQ(*stores[0]->Get("job/a b"), "replaced");
  ASSERT_TRUE(stores[0]->Set("empty", "").ok());
  EXPECT_EQ(*stores[1]->Get("empty"), "");

  // A wait returns once another client sets the last key.
  std::thread setter([&] {
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(stores[0]->Set("late", "1").ok());
  });
  absl::Status waited = stores[1]->Wait({"job/a b", "late"}, 10s);
  setter.join();
  EXPECT_TRUE(waited.ok()) << waited;
}

TEST_P(RendezvousStoreTest, WaitNamesTheMissingKeysAtItsDeadline) {
  auto stores = Stores(1);
  ASSERT_EQ(stores.size(), 1u);
  ASSERT_TRUE(stores[0]->Set("here", "1").ok());
  std::vector<std::string> missing;
  const auto start = SteadyClock::now();
  absl::Status waited = stores[0]->Wait({"here", "gone/1", "gone/2"}, 300ms, &missing);
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(waited)) << waited;
  EXPECT_THAT(std::string(waited.message()), HasSubstr("'gone/1', 'gone/2'"));
  EXPECT_THAT(missing, UnorderedElementsAre("gone/1", "gone/2"));
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_P(RendezvousStoreTest, RendezvousNamesTheRanksThatNeverArrived) {
  auto stores = Stores(4);
  ASSERT_EQ(stores.size(), 4u);
  // Ranks 0 and 1 of 4 come; 2 and 3 never do.
  std::vector<absl::Status> results(2);
  const auto start = SteadyClock::now();
  RunRanks(2, [&](int rank) { results[rank] = Rendezvous(*stores[rank], "job", rank, 4, 500ms); });
  EXPECT_LT(SteadyClock::now() - start, 5s);
  for (const absl::Status& s : results) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr(absl::StrCat("rendezvous at ", stores[0]->Describe(),
                                       " timed out after 500ms: ranks 2, 3 of 4 never arrived")));
  }
  // When all come, all pass.
  std::vector<absl::Status> all(4);
  RunRanks(4, [&](int rank) { all[rank] = Rendezvous(*stores[rank], "job2", rank, 4, 10s); });
  for (const absl::Status& s : all) EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(absl::IsInvalidArgument(Rendezvous(*stores[0], "job3", 4, 4, 1s)));
}

INSTANTIATE_TEST_SUITE_P(Kinds, RendezvousStoreTest,
                         ::testing::Values(StoreKind::kFile, StoreKind::kTcp),
                         [](const auto& info) { return testing::StoreKindName(info.param); });

// A raw connection to the server, for sending what no client would.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    auto fd = store_wire::ConnectOnce("127.0.0.1", port, SteadyClock::now() + 5s);
    EXPECT_TRUE(fd.ok()) << fd.status();
    fd_ = fd.ok() ? *fd : -1;
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  void Send(const std::string& bytes) {
    EXPECT_TRUE(store_wire::SendAll(fd_, bytes, SteadyClock::now() + 5s).ok());
  }
  // The server's reply kind and payload; then whether it hung up.
  std::pair<store_wire::Kind, std::string> Reply() {
    char header[store_wire::kHeaderBytes];
    absl::Status got = store_wire::RecvExact(fd_, header, sizeof(header), SteadyClock::now() + 5s);
    EXPECT_TRUE(got.ok()) << got;
    if (!got.ok()) return {store_wire::Kind::kOk, ""};
    auto h = store_wire::DecodeHeader(header);
    EXPECT_TRUE(h.ok()) << h.status();
    std::string payload(h.ok() ? h->length : 0, '\0');
    EXPECT_TRUE(
        store_wire::RecvExact(fd_, payload.data(), payload.size(), SteadyClock::now() + 5s).ok());
    return {h.ok() ? h->kind : store_wire::Kind::kOk, payload};
  }
  bool HungUp() {
    char byte;
    absl::Status got = store_wire::RecvExact(fd_, &byte, 1, SteadyClock::now() + 5s);
    return absl::IsUnavailable(got);
  }

 private:
  int fd_ = -1;
};

TEST(TcpStoreServerTest, RejectsBadMessagesAndServesOthersOn) {
  auto store = TcpStore::Serve("127.0.0.1", 0);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Set("k", "v").ok());
  const int port = (*store)->port();

  {  // garbage bytes
    RawConnection raw(port);
    raw.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto [kind, text] = raw.Reply();
    EXPECT_EQ(kind, store_wire::Kind::kError);
    EXPECT_THAT(text, HasSubstr("not a store message"));
    EXPECT_TRUE(raw.HungUp());
  }
  {  // a header announcing 2 GiB
    RawConnection raw(port);
    uint32_t header[3] = {store_wire::kMagic, static_cast<uint32_t>(store_wire::Kind::kSet),
                          0x80000000u};
    raw.Send(std::string(reinterpret_cast<const char*>(header), sizeof(header)));
    auto [kind, text] = raw.Reply();
    EXPECT_EQ(kind, store_wire::Kind::kError);
    EXPECT_THAT(text, HasSubstr("at most"));
    EXPECT_TRUE(raw.HungUp());
  }
  {  // a SET whose key length runs past the payload
    RawConnection raw(port);
    store_wire::PayloadWriter w;
    w.U32(1000);
    raw.Send(store_wire::EncodeMessage(store_wire::Kind::kSet, w.Take()));
    auto [kind, text] = raw.Reply();
    EXPECT_EQ(kind, store_wire::Kind::kError);
    EXPECT_THAT(text, HasSubstr("malformed SET"));
  }
  {  // a reply kind sent as a request, and a client that leaves mid-message
    RawConnection raw(port);
    raw.Send(store_wire::EncodeMessage(store_wire::Kind::kOk, ""));
    EXPECT_EQ(raw.Reply().first, store_wire::Kind::kError);
    RawConnection leaver(port);
    leaver.Send(store_wire::EncodeMessage(store_wire::Kind::kGet, "abc").substr(0, 7));
  }
  // The server still serves well-behaved clients.
  auto other = TcpStore::Connect("127.0.0.1", port, 5s);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*(*other)->Get("k"), "v");
  {
    absl::Status st = (*other)->Set("k2", "v2");
    ASSERT_TRUE(st.ok()) << st;
  }
  EXPECT_EQ(*(*store)->Get("k2"), "v2");
}

// A free port on 127.0.0.1 (bound by nobody when this returns).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(TcpStoreTest, ClientsWaitForAServerThatStartsLast) {
  const int port = FreePort();
  auto client =
      std::async(std::launch::async, [port] { return TcpStore::Connect("127.0.0.1", port, 10s); });
  std::this_thread::sleep_for(200ms);  // the client is retrying by now
  auto server = TcpStore::Serve("127.0.0.1", port);
  ASSERT_TRUE(server.ok()) << server.status();
  auto connected = client.get();
  ASSERT_TRUE(connected.ok()) << connected.status();
  ASSERT_TRUE((*connected)->Set("hello", "world").ok());
  EXPECT_EQ(*(*server)->Get("hello"), "world");
}

TEST(TcpStoreTest, ConnectGivesUpAtItsDeadlineNamingTheAddress) {
  const int port = FreePort();
  const auto start = SteadyClock::now();
  auto client = TcpStore::Connect("127.0.0.1", port, 300ms);
  EXPECT_LT(SteadyClock::now() - start, 3s);
  EXPECT_TRUE(absl::IsDeadlineExceeded(client.status())) << client.status();
  EXPECT_THAT(
      std::string(client.status().message()),
      HasSubstr(absl::StrCat("could not reach the store at 127.0.0.1:", port, " within 300ms")));
}

TEST(TcpStoreTest, ClientsSeeAStoppedServerAsAnError) {
  auto server = TcpStore::Serve("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  auto client = TcpStore::Connect("127.0.0.1", (*server)->port(), 1s);
  ASSERT_TRUE(client.ok());
  server->reset();
  const auto start = SteadyClock::now();
  absl::Status s = (*client)->Wait({"never"}, 10s);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("store 127.0.0.1:"));
  EXPECT_LT(SteadyClock::now() - start, 5s);
}

}  // namespace
}  // namespace fleet
