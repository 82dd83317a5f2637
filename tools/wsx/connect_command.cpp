// `wsx connect URL`: the command line. What it does is in connect_session.cpp.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "connect_session.hpp"
#include "connect_settings.hpp"

namespace wsx::tool {

Command add_connect_command(CLI::App& app) {
  auto settings = std::make_shared<ConnectSettings>();
  CLI::App* cmd = app.add_subcommand(
      "connect",
      "Connect to a WebSocket server: an interactive prompt on a terminal, one message per line "
      "of stdin otherwise");
  cmd->footer(
      "At the prompt: text is sent as a text message; /binary HEX, /base64 DATA, /ping [TEXT],\n"
      "/close [CODE [REASON]], /help, /quit (or Ctrl-D). Ctrl-C closes with 1000 (twice: at "
      "once).\n"
      "Output: received messages as \"< text\" on stdout; status, pings and traces on stderr.\n"
      "Exit codes: 0 normal close (1000/1001, or the close we asked for), 3 connection failed,\n"
      "4 handshake refused (status and headers on stderr), 5 abnormal close, 2 usage.\n"
      "Examples:\n"
      "  wsx connect ws://127.0.0.1:8080/echo\n"
      "  wsx connect -x hello -x world -w 1 wss://example.com/ws\n"
      "  printf 'a\\nb\\n' | wsx connect --json ws://127.0.0.1:8080/echo");
  cmd->add_option("url", settings->url, "ws:// or wss:// URL")->required();

  const char* handshake = "Handshake";
  cmd->add_option("-H,--header", settings->headers, "extra request header \"Name: value\"")
      ->group(handshake)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("-s,--subprotocol", settings->subprotocols, "offer this subprotocol (repeatable)")
      ->group(handshake)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("-o,--origin", settings->origin, "Origin header")->group(handshake);
  cmd->add_option("--auth", settings->auth, "HTTP Basic authentication user:password")
      ->group(handshake);
  auto* compress = cmd->add_flag("-c,--compress", settings->compress, "offer permessage-deflate")
                       ->group(handshake);
  cmd->add_flag("--client-no-context-takeover", settings->client_no_context_takeover,
                "deflate: we reset our compressor after each message")
      ->group(handshake)
      ->needs(compress);
  cmd->add_flag("--server-no-context-takeover", settings->server_no_context_takeover,
                "deflate: ask the server to reset its compressor after each message")
      ->group(handshake)
      ->needs(compress);
  cmd->add_option("--client-max-window-bits", settings->client_max_window_bits,
                  "deflate: the window our compressor uses at most (8-15)")
      ->group(handshake)
      ->check(CLI::Range(8, 15))
      ->needs(compress);
  cmd->add_option("--server-max-window-bits", settings->server_max_window_bits,
                  "deflate: ask the server for at most this window (8-15)")
      ->group(handshake)
      ->check(CLI::Range(8, 15))
      ->needs(compress);
  cmd->add_option("--connect-timeout", settings->connect_timeout,
                  "seconds for the TCP connection, and again for the handshake")
      ->group(handshake)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-message", settings->max_message,
                  "largest message accepted (bytes); larger ones close with 1009")
      ->group(handshake)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  const char* tls = "TLS (wss://)";
  cmd->add_flag("-k,--insecure", settings->insecure,
                "do not verify the server's certificate (testing only)")
      ->group(tls);
  cmd->add_option("--ca", settings->ca_file, "PEM file of CA certificates to trust")
      ->group(tls)
      ->check(CLI::ExistingFile);
  cmd->add_option("--cert", settings->cert_file, "client certificate (PEM)")
      ->group(tls)
      ->check(CLI::ExistingFile);
  cmd->add_option("--key", settings->key_file, "client private key (PEM)")
      ->group(tls)
      ->check(CLI::ExistingFile);

  const char* behaviour = "Behaviour";
  cmd->add_option("-x,--execute", settings->execute,
                  "send this text message once connected (repeatable), wait, then close")
      ->group(behaviour)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("-w,--wait", settings->wait,
                  "seconds to wait before closing, after -x (default 2) or after the end of stdin "
                  "(default 0)")
      ->group(behaviour)
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--echo", settings->echo,
                "send every message received back with its type; exit when the server closes")
      ->group(behaviour);
  cmd->add_flag("--json", settings->json,
                "one JSON object per event on stdout (open, message, ping, pong, close, error, "
                "and with --trace frame, handshake)")
      ->group(behaviour);
  cmd->add_flag("-P,--show-ping-pong", settings->show_ping_pong,
                "show pings and pongs, sent and received")
      ->group(behaviour);
  cmd->add_flag("--trace", settings->trace,
                "show every frame (time, direction, opcode, FIN, RSV, mask, length, first bytes) "
                "and the handshake headers")
      ->group(behaviour);
  cmd->add_flag("--no-color", settings->no_color, "no colours even on a terminal")
      ->group(behaviour);

  return [settings]() -> int {
    try {
      return run_connect(*settings);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "wsx connect: %s\n", e.what());
      return exit_usage;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "wsx connect: %s\n", e.what());
      return exit_runtime_error;
    }
  };
}

}  // namespace wsx::tool
