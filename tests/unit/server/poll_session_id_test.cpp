// Long-polling session ids: 128 random bits behind the owning thread's index, base64url.
#include "server/poll_session_id.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace wsx::server {
namespace {

TEST(PollSessionId, NamesItsWorkerAndHasTheDocumentedShape) {
  for (const std::uint16_t worker : {0, 1, 7, 255, 256, 65535}) {
    const std::string sid = make_poll_session_id(worker);
    EXPECT_EQ(sid.size(), poll_sid_text_size);
    EXPECT_EQ(
        sid.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    EXPECT_EQ(poll_session_worker(sid), worker);
  }
}

TEST(PollSessionId, TheRandomPartDiffersEveryTime) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(make_poll_session_id(3));
  EXPECT_EQ(seen.size(), 1000u);
  // The 16 random bytes are the last 128 bits: the text after the worker's characters varies
  // in every position over many ids (a constant position would mean fewer random bits).
  std::set<char> at_last;
  for (const std::string& sid : seen) at_last.insert(sid.back());
  EXPECT_GT(at_last.size(), 32u);
}

TEST(PollSessionId, RefusesWhatIsNotAnIdentifier) {
  const std::string sid = make_poll_session_id(2);
  EXPECT_EQ(poll_session_worker(""), std::nullopt);
  EXPECT_EQ(poll_session_worker(sid.substr(1)), std::nullopt);
  EXPECT_EQ(poll_session_worker(sid + "A"), std::nullopt);
  std::string bad = sid;
  bad[5] = '+';  // base64, not base64url
  EXPECT_EQ(poll_session_worker(bad), std::nullopt);
  bad[5] = '=';
  EXPECT_EQ(poll_session_worker(bad), std::nullopt);
}

}  // namespace
}  // namespace wsx::server
