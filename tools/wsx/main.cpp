// wsx — connect to, serve and load-test WebSockets.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "help_format.hpp"

namespace {

// Levenshtein distance, for "did you mean" (names are a few letters: the quadratic cost is nil).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "unknown subcommand 'conect'; did you mean 'connect'?" — CLI11 alone would only say that an
// argument was not expected.
int unknown_subcommand(std::string_view name, const std::vector<std::string>& known) {
  std::string best;
  // More than 2 edits away is not a typo; an empty name (`wsx ""`) is no typo of anything,
  // though every name starts with it.
  std::size_t best_distance = name.empty() ? 0 : 3;
  for (const std::string& candidate : known) {
    const std::size_t distance = candidate.starts_with(name) ? 0 : edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  std::string message = name.empty() ? std::string("wsx: the subcommand is empty")
                                     : "wsx: unknown subcommand '" + std::string(name) + "'";
  if (!best.empty()) {
    message += "; did you mean '" + best + "'?";
  } else {
    message += " (subcommands:";
    for (const std::string& candidate : known) message += " " + candidate;
    message += ")";
  }
  std::fprintf(stderr, "%s\nRun 'wsx --help' for more information.\n", message.c_str());
  return wsx::tool::exit_usage;
}

// The first option before the subcommand that wsx itself does not take ("--bogus"), if any:
// CLI11 checks for the required subcommand first and said only "A subcommand is required".
std::string_view unknown_leading_option(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.empty() || arg[0] != '-' || arg == "-") return {};  // the subcommand (or a typo)
    if (arg != "-h" && arg != "--help" && arg != "--version") return arg;
  }
  return {};
}

// The first option after SUBCOMMAND that it does not have, if any ("--heder"), skipping the
// values of the options it has. CLI11 named only the arguments it had left over, in its own
// order and with the URL among them when an unknown option made a value take the URL's
// place: `wsx bench --conections 3 URL` said "not expected: URL --conections".
std::string_view unknown_subcommand_option(const CLI::App& subcommand, int first, int argc,
                                           char** argv) {
  for (int i = first; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return {};  // what follows is positional
    if (arg.size() < 2 || arg[0] != '-' || (arg[1] >= '0' && arg[1] <= '9')) continue;
    const bool long_name = arg.starts_with("--");
    // --name=value, -Xvalue and -rb (flags together) name their option in the first letters.
    const std::string_view name = long_name ? arg.substr(0, arg.find('=')) : arg.substr(0, 2);
    const CLI::Option* option = subcommand.get_option_no_throw(std::string(name));
    if (option == nullptr) return name;
    const bool value_attached = long_name ? name.size() < arg.size() : arg.size() > 2;
    if (option->get_items_expected_min() > 0 && !value_attached) ++i;  // its value, whatever it is
  }
  return {};
}

// "wsx bench: unknown option '--conections'; did you mean '--connections'?"
int unknown_option(const CLI::App& subcommand, std::string_view option) {
  std::string best;
  std::size_t best_distance = 3;  // as for subcommands: more than 2 edits is not a typo
  if (option.starts_with("--")) {
    for (const CLI::Option* candidate : subcommand.get_options()) {
      for (const std::string& name : candidate->get_lnames()) {
        const std::size_t distance = edit_distance(option.substr(2), name);
        if (distance < best_distance) {
          best = "--" + name;
          best_distance = distance;
        }
      }
    }
  }
  const std::string command = "wsx " + subcommand.get_name();
  std::string message = command + ": unknown option '" + std::string(option) + "'";
  if (!best.empty()) message += "; did you mean '" + best + "'?";
  std::fprintf(stderr, "%s\nRun '%s --help' for more information.\n", message.c_str(),
               command.c_str());
  return wsx::tool::exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  // The name is given so that usage lines say "wsx", not the path the binary was run by.
  CLI::App app{
      "wsx — a WebSocket toolkit: connect (interactive client and pipe), serve (a ready "
      "server), bench (load test of an echo endpoint)",
      "wsx"};
  app.formatter(std::make_shared<wsx::tool::HelpFormatter>());  // inherited by subcommands
  app.set_version_flag("--version", "wsx " WSX_VERSION, "print the version and exit");
  app.set_help_flag("-h,--help", "print this help and exit");
  app.require_subcommand(1);
  // "wsx connect: --wait: ... / Run 'wsx connect --help' ...", as the other errors of wsx
  // name their command; CLI11's own said only "Run with --help for more information.".
  app.failure_message([](const CLI::App* top, const CLI::Error& error) {
    const std::vector<CLI::App*> chosen = top->get_subcommands();
    const std::string command =
        chosen.empty() ? std::string("wsx") : "wsx " + chosen.front()->get_name();
    return command + ": " + error.what() + "\nRun '" + command + " --help' for more information.\n";
  });
  app.footer(
      "Run 'wsx help SUBCOMMAND' (or 'wsx SUBCOMMAND --help') for the options of each.\n"
      "Exit codes: 0 success, 2 usage, 3 connection failed (serve: cannot listen, e.g. address "
      "in use), 4 handshake refused, 5 abnormal close, 6 other errors, 7 proxy failed; each "
      "subcommand's help "
      "says which it uses.");
  // Each add_*_command registers the subcommand of that name.
  std::vector<std::pair<std::string, wsx::tool::Command>> commands = {
      {"connect", wsx::tool::add_connect_command(app)},
      {"serve", wsx::tool::add_serve_command(app)},
      {"bench", wsx::tool::add_bench_command(app)},
  };
  std::string help_topic;
  CLI::App* help = app.add_subcommand("help", "show the help of wsx, or of one subcommand");
  help->add_option("subcommand", help_topic, "connect, serve or bench")->type_name("SUBCOMMAND");
  std::vector<std::string> known;
  for (const auto& [name, run] : commands) known.push_back(name);
  known.emplace_back("help");

  if (argc >= 2 && argv[1][0] != '-' &&
      std::find(known.begin(), known.end(), argv[1]) == known.end()) {
    return unknown_subcommand(argv[1], known);
  }
  if (const std::string_view option = unknown_leading_option(argc, argv); !option.empty()) {
    std::fprintf(stderr,
                 "wsx: unknown option '%.*s' (wsx itself takes only --help and --version; a "
                 "subcommand's options come after it)\nRun 'wsx --help' for more information.\n",
                 static_cast<int>(option.size()), option.data());
    return wsx::tool::exit_usage;
  }
  // argv[1] is a known subcommand here when it is not an option (checked above).
  if (argc >= 2 && argv[1][0] != '-' && std::string_view(argv[1]) != "help") {
    const CLI::App& subcommand = *app.get_subcommand(argv[1]);
    if (const std::string_view option = unknown_subcommand_option(subcommand, 2, argc, argv);
        !option.empty()) {
      return unknown_option(subcommand, option);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (argc < 2 && dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
      std::cerr << app.help();  // plain `wsx`: what it can do, not a terse error
      return wsx::tool::exit_usage;
    }
    const int code = app.exit(e);
    return code == 0 ? wsx::tool::exit_ok : wsx::tool::exit_usage;
  }
  const std::string chosen = app.get_subcommands().front()->get_name();
  if (chosen == "help") {
    if (help_topic.empty()) {
      // Not app.help(): it hands over to the subcommand parsed, `help` itself, whose help
      // ("Usage: wsx help [OPTIONS] [subcommand]") is not what `wsx help` asks for.
      std::cout << app.get_formatter()->make_help(&app, "wsx", CLI::AppFormatMode::Normal);
      return wsx::tool::exit_ok;
    }
    if (std::find(known.begin(), known.end(), help_topic) == known.end()) {
      return unknown_subcommand(help_topic, known);
    }
    std::cout << app.get_subcommand(help_topic)->help("wsx");
    return wsx::tool::exit_ok;
  }
  for (const auto& [name, run] : commands) {
    if (name == chosen) return run();
  }
  return wsx::tool::exit_usage;
}
