// The transport in what `wsx serve` prints (issue 14 §4): the access line's transport= field and
// the trace's open and closed lines; values a peer chooses cannot forge a line.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "frame_trace.hpp"
#include "serve_access_log.hpp"

namespace wsx::tool {
namespace {

std::string line_of(const AccessRecord& record) {
  const std::string line = format_access_line(record, std::chrono::system_clock::time_point{});
  return line.substr(line.find(' ') + 1);  // without the time stamp
}

TEST(ServeLogLines, AccessLineEndsWithTheTransport) {
  AccessRecord record;
  record.remote_address = "127.0.0.1:5000";
  record.method = "CONNECT";
  record.target = "/echo";
  record.status = 200;
  record.transport = Transport::http2;
  EXPECT_EQ(line_of(record),
            R"(127.0.0.1:5000 "CONNECT /echo" 200 origin="-" subprotocol="-" extensions="-" )"
            R"(transport=h2)");
  record.method = "GET";
  record.status = 101;
  record.transport = Transport::http1;
  EXPECT_TRUE(line_of(record).ends_with(" transport=h1")) << line_of(record);
  record.method = "POST";
  record.target = "/echo?wsx-poll=open";
  record.status = 200;
  record.transport = Transport::long_polling;
  record.reason = "why";
  EXPECT_TRUE(line_of(record).ends_with(R"( transport=long-polling reason="why")"))
      << line_of(record);
}

TEST(ServeLogLines, TraceOpenLineNamesPathTransportAndNegotiation) {
  EXPECT_EQ(describe_open("/chat/room", Transport::http2, "chat.v1", "permessage-deflate"),
            R"(= open "/chat/room" transport=h2 subprotocol="chat.v1" )"
            R"(extensions="permessage-deflate")");
  EXPECT_EQ(describe_open("/echo", Transport::long_polling, "", ""),
            R"(= open "/echo" transport=long-polling subprotocol="-" extensions="-")");
}

TEST(ServeLogLines, TraceClosedLineAndHostileValues) {
  EXPECT_EQ(describe_close({.code = 1006, .reason = "", .clean = false}),
            R"(= closed code=1006 clean=0 reason="-")");
  EXPECT_EQ(describe_close({.code = 1000, .reason = "bye", .clean = true}),
            R"(= closed code=1000 clean=1 reason="bye")");
  // A quote or a newline would end the value or the line: hex instead.
  const std::string closed = describe_close({.code = 4000, .reason = "a\"\nb", .clean = true});
  EXPECT_EQ(closed.find('\n'), std::string::npos);
  EXPECT_EQ(closed, R"(= closed code=4000 clean=1 reason="61220a62")");
}

}  // namespace
}  // namespace wsx::tool
