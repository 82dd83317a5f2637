// Splits `wsx serve --exec` commands into words the way a POSIX shell would, without running a
// shell: no expansion, no globbing, no redirection, so nothing in the command can surprise.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsx::tool {

// Words separated by blanks; '...' keeps everything literally; "..." keeps everything except
// that a backslash escapes $ ` " \ and newline; a backslash outside quotes escapes the next
// character. nullopt for an unterminated quote or a trailing backslash.
std::optional<std::vector<std::string>> split_shell_words(std::string_view command);

}  // namespace wsx::tool
