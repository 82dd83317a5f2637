#include "connect_console.hpp"

#include <cstdio>

namespace wsx::tool {
namespace {

void write_line(std::FILE* stream, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fputc('\n', stream);
  std::fflush(stream);
}

}  // namespace

void PlainConsole::out(std::string_view text) {
  write_line(stdout, text);
}

void PlainConsole::err(std::string_view text) {
  write_line(stderr, text);
}

}  // namespace wsx::tool
