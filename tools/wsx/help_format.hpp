// How `wsx ... --help` looks: CLI11's layout without its type clutter ("UINT:INT in [8 - 15]",
// "Needs: --compress", "TEXT:FILE"): an option shows its placeholder (FILE, SECONDS, ...) and
// its description says the rest; descriptions, the program description and footers are
// wrapped to 80 columns.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace wsx::tool {

inline constexpr std::size_t help_width = 80;

class HelpFormatter final : public CLI::Formatter {
 public:
  HelpFormatter();
  std::string make_option_opts(const CLI::Option* option) const override;
  std::string make_option_desc(const CLI::Option* option) const override;
  std::string make_description(const CLI::App* app) const override;
  std::string make_footer(const CLI::App* app) const override;
  std::string make_subcommand(const CLI::App* sub) const override;
};

// Breaks each line of `text` longer than `width` at spaces; a continuation is indented like
// the line it continues (so an indented example stays indented).
std::string wrap_text(std::string_view text, std::size_t width);

// A CLI11 check without its description, so it does not show up next to the placeholder.
template <typename Validator>
Validator quiet(Validator validator) {
  validator.description("");
  return validator;
}

}  // namespace wsx::tool
