// Reads stdin on the event loop, line by line or whole, for `wsx connect` in pipe mode (or raw
// bytes for the line editor). Data is never altered or split: a line is handed out whole, or
// refused whole when it is longer than the limit. A pipe, terminal or socket is watched with epoll;
// a regular file or /dev/null cannot be (epoll refuses them) and never blocks, so it is read in
// posted chunks instead. Reading can pause while the connection is behind (backpressure).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "wsx/io/event_loop.hpp"

namespace wsx::tool {

class StdinReader final : private io::IoHandler {
 public:
  struct Handlers {
    std::function<void(std::string_view line)> line;  // without "\n" (or "\r\n", strip_cr)
    std::function<void()> end;                        // EOF (a last unterminated line first)
    // A line (or all of stdin, whole) longer than `limit`: reading stops, `end` does not follow.
    std::function<void()> too_long;
  };
  struct Framing {
    bool whole = false;     // all of stdin is one "line", handed out at EOF
    bool strip_cr = true;   // "\r\n" ends a line as "\n" does
    std::size_t limit = 0;  // longest line, in bytes
  };

  StdinReader(io::EventLoop& loop, Handlers handlers, Framing framing);
  // Alternative for the line editor: `readable` is called whenever stdin has input.
  StdinReader(io::EventLoop& loop, std::function<void()> readable);
  ~StdinReader();
  StdinReader(const StdinReader&) = delete;
  StdinReader& operator=(const StdinReader&) = delete;

  void start();
  void pause();
  void resume();
  void stop();

 private:
  void on_readable() override;
  void on_error() override { on_readable(); }
  void schedule_chunk();
  void read_chunk();
  void process();  // hands out the complete lines of input_ until paused or stopped

  io::EventLoop& loop_;
  Handlers handlers_;
  Framing framing_;
  std::function<void()> readable_;
  std::string input_;        // bytes read and not yet handed out
  std::size_t scanned_ = 0;  // input_ up to here holds no newline
  bool end_of_input_ = false;
  bool whole_sent_ = false;  // whole: the one message went (even an empty stdin makes one)
  bool registered_ = false;
  bool polled_ = false;  // a posted chunk read is on its way (for unpollable stdin)
  bool paused_ = false;
  bool stopped_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace wsx::tool
