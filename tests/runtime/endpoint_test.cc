// "host:port" parsing: accepted forms, normalisation, and an error naming the text for each
// malformed one.
#include "runtime/endpoint.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

TEST(EndpointTest, ParsesHostAndPort) {
  auto e = ParseHostPort(" 10.0.0.1:6000 ");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "10.0.0.1");
  EXPECT_EQ(e->port, 6000);
  EXPECT_EQ(e->ToString(), "10.0.0.1:6000");
  auto v6 = ParseHostPort("[::1]:80");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->port, 80);
}

TEST(EndpointTest, MalformedEndpointsNameTheTextAndTheProblem) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"h1", "\"h1\": expected host:port"},
           Case{":80", "\":80\": the host is empty"},
           Case{"h1:", "\"h1:\": the port is empty"},
           Case{"h1:x1", "port \"x1\" is not a number"},
           Case{"h1:-5", "port \"-5\" is not a number"},
           Case{"h1:0", "port 0 is out of range 1..65535"},
           Case{"h1:99999", "\"h1:99999\": port 99999 is out of range 1..65535"},
           Case{"a:b:80", "write an IPv6 address as [addr]:port"},
           Case{"a b:80", "the host has a space"},
       }) {
    auto e = ParseHostPort(c.text);
    ASSERT_FALSE(e.ok()) << c.text;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(e.status().message()), HasSubstr(c.message)) << c.text;
  }
}

TEST(EndpointTest, ListsKeepOrderAndRejectEmptyBadAndRepeatedEntries) {
  auto list = ParseEndpointList("h2:1, h1:2");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].ToString(), "h2:1");
  EXPECT_EQ((*list)[1].ToString(), "h1:2");

  EXPECT_THAT(std::string(ParseEndpointList(" ").status().message()),
              HasSubstr("the list is empty"));
  EXPECT_THAT(std::string(ParseEndpointList("h:1,,h:2").status().message()),
              HasSubstr("entry 2 \"\": expected host:port"));
  EXPECT_THAT(std::string(ParseEndpointList("h:1,h").status().message()),
              HasSubstr("entry 2 \"h\": expected host:port"));
  EXPECT_THAT(std::string(ParseEndpointList("h:1,h:2,h:1").status().message()),
              HasSubstr("entry 3 \"h:1\" is given twice"));
  EXPECT_EQ(JoinEndpoints({"a:1", "b:2"}), "a:1,b:2");
}

}  // namespace
}  // namespace fleet
