#include "help_format.hpp"

#include <sstream>

namespace wsx::tool {

HelpFormatter::HelpFormatter() {
  column_width(30);
}

std::string wrap_text(std::string_view text, std::size_t width) {
  std::string out;
  while (true) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    const std::size_t indent = std::min(line.find_first_not_of(' '), line.size());
    while (line.size() > width) {
      std::size_t cut = line.rfind(' ', width);
      if (cut == std::string_view::npos || cut <= indent) cut = line.find(' ', width);
      if (cut == std::string_view::npos) break;  // one long word: left as it is
      out.append(line.substr(0, cut));
      out += '\n';
      line.remove_prefix(cut + 1);
      out.append(indent, ' ');
    }
    out.append(line);
    if (newline == std::string_view::npos) break;
    out += '\n';
    text.remove_prefix(newline + 1);
  }
  return out;
}

std::string HelpFormatter::make_option_opts(const CLI::Option* option) const {
  if (option->get_type_size() == 0) return {};  // a flag
  std::string name = option->get_type_name();
  name = name.substr(0, name.find(':'));  // what a validator appended
  return name.empty() ? std::string() : " " + name;
}

std::string HelpFormatter::make_option_desc(const CLI::Option* option) const {
  return wrap_text(option->get_description(), help_width - get_column_width());
}

std::string HelpFormatter::make_description(const CLI::App* app) const {
  const std::string description = app->get_description();
  return description.empty() ? std::string() : wrap_text(description, help_width) + "\n";
}

std::string HelpFormatter::make_footer(const CLI::App* app) const {
  const std::string footer = app->get_footer();
  return footer.empty() ? std::string() : wrap_text(footer, help_width) + "\n";
}

std::string HelpFormatter::make_subcommand(const CLI::App* sub) const {
  std::stringstream out;
  CLI::detail::format_help(out, sub->get_display_name(true),
                           wrap_text(sub->get_description(), help_width - get_column_width()),
                           get_column_width());
  return out.str();
}

}  // namespace wsx::tool
