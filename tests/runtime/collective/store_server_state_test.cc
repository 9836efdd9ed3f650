// The TCP store server's request handling without sockets
// (runtime/collective/store_server_state.h): replies are read back with the wire format's own
// decoder.
#include "runtime/collective/store_server_state.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace fleet::store_wire {
namespace {

std::string Str(std::string_view s) {
  PayloadWriter w;
  w.Str(s);
  return w.Take();
}
std::string Set(std::string_view key, std::string_view value) {
  return EncodeMessage(Kind::kSet, Str(key) + Str(value));
}
std::string Wait(std::chrono::milliseconds timeout, const std::vector<std::string>& keys) {
  PayloadWriter w;
  w.U64(timeout.count());
  w.U32(keys.size());
  for (const std::string& k : keys) w.Str(k);
  return EncodeMessage(Kind::kWait, w.Take());
}

// The kinds and payloads of every reply queued on `c`.
std::vector<std::pair<Kind, std::string>> Replies(const Connection& c) {
  std::vector<std::pair<Kind, std::string>> replies;
  std::string_view out = c.out;
  while (out.size() >= kHeaderBytes) {
    auto header = DecodeHeader(out.data());
    EXPECT_TRUE(header.ok()) << header.status();
    if (!header.ok()) break;
    replies.emplace_back(header->kind, std::string(out.substr(kHeaderBytes, header->length)));
    out.remove_prefix(kHeaderBytes + header->length);
  }
  EXPECT_TRUE(out.empty()) << "a reply is cut short";
  return replies;
}

const SteadyClock::time_point kStart = SteadyClock::time_point{} + std::chrono::hours(1);

TEST(StoreServerStateTest, ASetHeldBehindAWaitAnswersAnEarlierClientsWait) {
  StoreServerState server;
  server.connections().resize(3);
  auto& c = server.connections();
  server.Receive(c[0], Wait(std::chrono::minutes(1), {"k"}), kStart);
  // Client 1 pipelines a SET of k behind its own WAIT for j: it runs only once j is set, and
  // then client 0, already passed over in that round, must be answered too.
  server.Receive(c[1], Wait(std::chrono::minutes(1), {"j"}) + Set("k", "v"), kStart);
  server.Receive(c[2], Set("j", "w"), kStart);
  server.ResolveWaits(kStart);

  EXPECT_FALSE(c[0].wait.has_value());
  ASSERT_EQ(Replies(c[0]).size(), 1u);
  EXPECT_EQ(Replies(c[0])[0].first, Kind::kOk);
  ASSERT_EQ(Replies(c[1]).size(), 2u);  // the WAIT's OK, then the SET's
  EXPECT_EQ(server.PollTimeoutMillis(), -1);
}

TEST(StoreServerStateTest, AWaitTimesOutNamingTheMissingKeysThenTheNextRequestRuns) {
  StoreServerState server;
  server.connections().resize(2);
  auto& c = server.connections();
  server.Receive(c[0],
                 Wait(std::chrono::seconds(1), {"a", "z"}) + EncodeMessage(Kind::kGet, Str("a")),
                 kStart);
  server.Receive(c[1], Set("a", "1"), kStart);
  server.ResolveWaits(kStart + std::chrono::milliseconds(999));
  EXPECT_TRUE(c[0].out.empty());
  EXPECT_GT(server.PollTimeoutMillis(), -1);

  server.ResolveWaits(kStart + std::chrono::seconds(1));
  const auto replies = Replies(c[0]);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].first, Kind::kTimeout);
  PayloadReader missing(replies[0].second);
  uint32_t n = 0;
  std::string key;
  ASSERT_TRUE(missing.U32(&n) && n == 1 && missing.Str(&key) && missing.done());
  EXPECT_EQ(key, "z");
  EXPECT_EQ(replies[1], std::make_pair(Kind::kOk, Str("1")));
}

TEST(StoreServerStateTest, AnUnreadableRequestGetsErrorAndLaterBytesAreIgnored) {
  StoreServerState server;
  server.connections().resize(1);
  Connection& c = server.connections()[0];
  server.Receive(c, EncodeMessage(Kind::kSet, Str("k") + Str("v") + "!"), kStart);
  server.Receive(c, Set("k", "v"), kStart);
  const auto replies = Replies(c);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0], std::make_pair(Kind::kError, std::string("malformed SET request")));
  EXPECT_TRUE(c.hang_up_after_reply);
  EXPECT_FALSE(server.HasKey("k"));
}

}  // namespace
}  // namespace fleet::store_wire
