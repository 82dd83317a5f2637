// Reads stdin on the event loop, line by line, for `wsx connect` in pipe mode (or raw bytes for
// the line editor). A pipe, terminal or socket is watched with epoll; a regular file or
// /dev/null cannot be (epoll refuses them) and never blocks, so it is read in posted chunks
// instead. Reading can pause while the connection is behind (backpressure).
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
    std::function<void(std::string_view line)> line;  // without "\n" or "\r\n"
    std::function<void()> end;                        // EOF (a last unterminated line first)
  };

  // Lines longer than this are sent in pieces of this size (a named limit for memory).
  static constexpr std::size_t max_line = 1024 * 1024;

  StdinReader(io::EventLoop& loop, Handlers handlers);
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
  std::function<void()> readable_;
  std::string input_;  // bytes read and not yet handed out
  bool end_of_input_ = false;
  bool registered_ = false;
  bool polled_ = false;  // a posted chunk read is on its way (for unpollable stdin)
  bool paused_ = false;
  bool stopped_ = true;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace wsx::tool
