// One run of `wsx connect`: connects, then works in the mode the settings and the terminal
// call for, and returns the exit code (commands.hpp):
// - execute (-x): send the messages, wait -w seconds, close with 1000;
// - echo (--echo): send every message back with its type until the server closes;
// - interactive (stdin and stdout are terminals): a prompt with line editing and history;
// - pipe (otherwise): every line of stdin is a text message; EOF closes with 1000.
#pragma once

#include "connect_settings.hpp"

namespace wsx::tool {

// Throws std::invalid_argument, with a message for the user, for settings that cannot be used
// (a malformed header, a bad URL, TLS files that do not load, ...).
int run_connect(const ConnectSettings& settings);

}  // namespace wsx::tool
