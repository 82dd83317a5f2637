// `wsx connect URL`: the command line. What it does is in connect_session.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "connect_session.hpp"
#include "connect_settings.hpp"
#include "help_format.hpp"
#include "number_check.hpp"

namespace wsx::tool {
namespace {

// The longest --connect-timeout and --wait. Their seconds become milliseconds (to_millis in
// connect_session.cpp) and then a deadline on the loop's nanosecond clock: 1e300 overflowed the
// conversion (undefined behaviour). A million seconds (11.5 days) is longer than anyone waits
// for a connection or before closing, and far inside both; `wsx serve --idle-timeout` has the
// same bound.
constexpr double max_seconds = 1e6;

// A repeatable option (-H, -s, -x) takes one value each time it is given. CLI11 lets an option
// that fills a vector take every argument up to the next option, so `wsx connect -H 'A: b'
// ws://host/` took the URL as a second header and then said "URL is required".
CLI::Option* repeatable(CLI::Option* option) {
  return option->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->allow_extra_args(false);
}

}  // namespace

Command add_connect_command(CLI::App& app) {
  auto settings = std::make_shared<ConnectSettings>();
  CLI::App* cmd = app.add_subcommand(
      "connect",
      "Connect to a WebSocket server: an interactive prompt on a terminal, one message per line "
      "of stdin otherwise");
  cmd->footer(
      "URL, as people type it: ws://HOST[:PORT]/PATH, wss://..., http(s):// (taken as ws(s)://), "
      "ws.PROTO:// or wss.PROTO:// (offers the subprotocol PROTO), user:password@HOST (HTTP "
      "Basic credentials); without a scheme: ws:// for a loopback host, wss:// for any other.\n"
      "\n"
      "At the prompt: text is sent as a text message (exactly the UTF-8 typed); /binary HEX, "
      "/base64 DATA, /ping [TEXT] (its pong is shown, with or without -P), /close [CODE "
      "[REASON]] (alone: a close frame without a code), /help, /quit (or Ctrl-D). Ctrl-C "
      "closes with 1000 (twice: at once).\n"
      "\n"
      "stdin (not a terminal): each line is one message, whatever its length, without its "
      "\"\\n\" (and \"\\r\\n\" in text mode). Text mode: a line that is not valid UTF-8 is not "
      "sent; nothing after it is sent, the connection closes with 1000 and wsx exits 6. "
      "-b/--binary: each line is sent as a binary message, bytes as they are (a \"\\r\" is "
      "kept). --whole: all of stdin is one message (text, or binary with -b). A line or message "
      "longer than --max-message is not sent either (exit 6), nor a line that comes after the "
      "server started closing. At the end of stdin: wait -w "
      "seconds, then close with 1000.\n"
      "\n"
      "Proxies: --proxy URL, else the environment as curl reads it: https_proxy (or "
      "HTTPS_PROXY) for wss://, http_proxy for ws://, then all_proxy (or ALL_PROXY); no_proxy (or "
      "NO_PROXY) lists hosts reached directly: \"*\", names (each also covers the names under "
      "it), IP addresses, ranges such as 10.0.0.0/8, HOST:PORT; loopback is not special, name it "
      "there (\"localhost,127.0.0.1,::1\"). Proxy URLs: http://[USER:PASSWORD@]HOST[:PORT] (HTTP "
      "CONNECT, Basic credentials), socks5h://... (SOCKS5, the proxy resolves the server's name), "
      "socks5://... (SOCKS5, the name is resolved here); the port defaults to 1080. wss:// runs "
      "TLS inside the tunnel and verifies the server, not the proxy.\n"
      "\n"
      "Redirects: a 301, 302, 303, 307 or 308 answer is shown with its Location (exit 4); with "
      "-L it is followed, at most --max-redirs times, never from wss:// to ws://; Authorization "
      "and Cookie headers are not sent to another origin. --trace shows each hop.\n"
      "\n"
      "Output: received messages as \"< text\" (binary: \"< [binary N bytes] HEX\") on stdout; "
      "status, pings and traces on stderr. -r/--raw: stdout carries the payloads alone, each "
      "followed by \"\\n\", binary written as it is (for jq, grep, files). --json: one JSON "
      "object per event.\n"
      "\n"
      "Exit codes: 0 closed normally (the server's close code was 1000 or 1001, or it answered "
      "the close we asked for with the same code), 2 usage, 3 connection failed (name, TCP, "
      "TLS), 4 handshake refused (status and headers on stderr; a redirect not followed), 5 "
      "abnormal close (another "
      "close code, e.g. 1009 for a message too big, or no closing handshake), 6 input not sent "
      "(invalid UTF-8 in text mode, a line too long) or another error, 7 proxy failed "
      "(unreachable, "
      "refused the tunnel: its HTTP status or SOCKS5 reply on stderr, or broke its protocol).\n"
      "\n"
      "Examples:\n"
      "  wsx connect ws://127.0.0.1:8080/echo\n"
      "  wsx connect -x hello -x world -w 1 wss://example.com/ws\n"
      "  printf 'a\\nb\\n' | wsx connect --json ws://127.0.0.1:8080/echo\n"
      "  wsx connect -r ws://127.0.0.1:8080/chat | jq .\n"
      "  wsx connect -b --whole ws://127.0.0.1:8080/echo < image.png\n"
      "  wsx connect --proxy socks5h://127.0.0.1:1080 wss://example.com/ws\n"
      "  https_proxy=http://user:pw@proxy:3128 wsx connect -L wss://example.com/old");
  cmd->add_option("URL", settings->url, "the server's URL (see below)")->type_name("")->required();

  const char* handshake = "Handshake";
  repeatable(cmd->add_option("-H,--header", settings->headers,
                             "extra request header \"Name: value\" (repeatable); a User-Agent "
                             "given here replaces the default wsx/VERSION"))
      ->type_name("HEADER")
      ->group(handshake);
  repeatable(cmd->add_option("-s,--subprotocol", settings->subprotocols,
                             "offer this subprotocol (repeatable)"))
      ->type_name("NAME")
      ->group(handshake);
  cmd->add_option("-o,--origin", settings->origin, "the Origin header")
      ->type_name("ORIGIN")
      ->group(handshake);
  cmd->add_option("--auth", settings->auth, "HTTP Basic authentication, as user:password")
      ->type_name("CREDENTIALS")
      ->group(handshake);
  auto* compress =
      cmd->add_flag("--compress", settings->compress, "offer permessage-deflate")->group(handshake);
  cmd->add_flag("--http2", settings->http2,
                "wss://: open the WebSocket over HTTP/2 (RFC 8441) when the server offers it, "
                "else HTTP/1.1")
      ->group(handshake);
  cmd->add_flag("--client-no-context-takeover", settings->client_no_context_takeover,
                "with --compress: we reset our compressor after each message")
      ->group(handshake)
      ->needs(compress);
  cmd->add_flag("--server-no-context-takeover", settings->server_no_context_takeover,
                "with --compress: ask the server to reset its compressor after each message")
      ->group(handshake)
      ->needs(compress);
  cmd->add_option("--client-max-window-bits", settings->client_max_window_bits,
                  "with --compress: the window our compressor uses at most (8-15)")
      ->type_name("BITS")
      ->group(handshake)
      ->check(whole_number(8, 15))
      ->needs(compress);
  cmd->add_option("--server-max-window-bits", settings->server_max_window_bits,
                  "with --compress: ask the server for at most this window (8-15)")
      ->type_name("BITS")
      ->group(handshake)
      ->check(whole_number(8, 15))
      ->needs(compress);
  cmd->add_option("--proxy", settings->proxy,
                  "connect through this proxy: http://, socks5:// or socks5h:// (see below); "
                  "default: from the environment")
      ->type_name("URL")
      ->group(handshake);
  cmd->add_flag("-L,--location", settings->location,
                "follow redirects of the handshake (301, 302, 303, 307, 308)")
      ->group(handshake);
  cmd->add_option("--max-redirs", settings->max_redirects,
                  "with -L: follow at most this many redirects (default 5)")
      ->type_name("N")
      ->group(handshake);
  cmd->add_option("--connect-timeout", settings->connect_timeout,
                  "for the TCP connection, and again for the handshake (default 10, at most "
                  "1000000)")
      ->type_name("SECONDS")
      ->group(handshake)
      ->check(real_number(0, max_seconds, true));
  cmd->add_option("--max-message", settings->max_message,
                  "largest message either way (default 16 MiB): a larger one received closes "
                  "with 1009; a longer stdin line is not sent")
      ->type_name("BYTES")
      ->group(handshake)
      ->check(whole_number(1));

  const char* tls = "TLS (wss://)";
  cmd->add_flag("-k,--insecure", settings->insecure,
                "do not verify the server's certificate (testing only)")
      ->group(tls);
  cmd->add_option("--ca", settings->ca_file, "PEM file of CA certificates to trust")
      ->type_name("FILE")
      ->group(tls)
      ->check(quiet(CLI::ExistingFile));
  cmd->add_option("--cert", settings->cert_file, "client certificate (PEM)")
      ->type_name("FILE")
      ->group(tls)
      ->check(quiet(CLI::ExistingFile));
  cmd->add_option("--key", settings->key_file, "client private key (PEM)")
      ->type_name("FILE")
      ->group(tls)
      ->check(quiet(CLI::ExistingFile));

  const char* input = "Input";
  auto* execute =
      repeatable(cmd->add_option("-x,--execute", settings->execute,
                                 "send this text message once connected (repeatable), wait, then "
                                 "close"))
          ->type_name("MESSAGE")
          ->group(input);
  cmd->add_option("-w,--wait", settings->wait,
                  "wait before closing, after -x (default 2) or after the end of stdin "
                  "(default 0); at most 1000000")
      ->type_name("SECONDS")
      ->group(input)
      ->check(real_number(0, max_seconds));
  cmd->add_flag("-b,--binary", settings->binary,
                "send stdin lines (or, with --whole, all of stdin) as binary messages")
      ->group(input);
  cmd->add_flag("--whole", settings->whole, "send all of stdin as one message")->group(input);
  cmd->add_flag("--reconnect", settings->reconnect,
                "when the connection is lost or cannot be made, try again with backoff (0.5 s "
                "doubling to 30 s, jittered, 10 attempts; not after a clean 1000 or a refusal). "
                "Meanwhile stdin waits (a line the lost connection refused is sent on the next) "
                "and lines typed at the prompt are refused with a message.")
      ->group(input)
      ->excludes(execute);
  cmd->add_flag("--echo", settings->echo,
                "send every message received back with its type; exit when the server closes")
      ->group(input);

  const char* output = "Output";
  auto* raw = cmd->add_flag("-r,--raw", settings->raw,
                            "stdout: each message's payload and \"\\n\", nothing else; binary "
                            "as it is")
                  ->group(output);
  cmd->add_flag("--json", settings->json,
                "one JSON object per event on stdout (open, message, ping, pong, close, error, "
                "and with --trace frame, handshake)")
      ->group(output)
      ->excludes(raw);
  cmd->add_flag("-P,--show-ping-pong", settings->show_ping_pong,
                "show pings and pongs, sent and received")
      ->group(output);
  cmd->add_flag("--trace", settings->trace,
                "show every frame (time, direction, opcode, FIN, RSV, mask, length, first "
                "bytes) and the handshake headers")
      ->group(output);
  cmd->add_flag("--no-color", settings->no_color, "no colours even on a terminal")->group(output);

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
