// loadgen: single-threaded epoll WebSocket (RFC 6455) load generator.
//
// Modes:
//   echo       N connections, each keeps P messages of S bytes in flight for D
//              seconds; counts echoed messages, round-trip latency percentiles.
//   handshake  keeps N concurrent connect+upgrade+close cycles going for D
//              seconds; reports full cycles per second.
//   idle       opens N upgraded connections and holds them; with --server-pid
//              reports the server's VmRSS growth per connection.
// --raw replaces WebSocket with plain TCP against a byte echo server: the same
// pre-built (masked client) frames are sent and every frame-length worth of
// echoed bytes counts as one message. This is the "physical limit" baseline.
//
// --tls (or a wss:// URL) speaks TLS over each connection with OpenSSL (no
// certificate check: loopback benchmarks only), so the same scenarios measure
// a wss:// server; the JSON then has "proto":"wss".
//
// Output: one JSON object on one line on stdout. Diagnostics go to stderr.
//
// wsx copy: the shared harness's loadgen (../shared/bench, read-only) with TLS
// added; scripts/wss-bench.sh builds and runs it.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace {

// ---------------------------------------------------------------- utilities

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

[[noreturn]] void die(const char* fmt, const char* arg = "") {
  std::fprintf(stderr, "loadgen: ");
  std::fprintf(stderr, fmt, arg);
  std::fprintf(stderr, "\n");
  std::exit(2);
}

// SHA-1 (FIPS 180-4), only needed for Sec-WebSocket-Accept.
std::array<uint8_t, 20> sha1(std::string_view msg) {
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u,
                   0xC3D2E1F0u};
  std::string data(msg);
  uint64_t bit_len = uint64_t(msg.size()) * 8;
  data.push_back(char(0x80));
  while (data.size() % 64 != 56) data.push_back('\0');
  for (int i = 7; i >= 0; --i) data.push_back(char((bit_len >> (i * 8)) & 0xff));
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (size_t off = 0; off < data.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const uint8_t*>(data.data() + off + i * 4);
      w[i] = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
             (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<uint8_t, 20> out{};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) out[i * 4 + j] = uint8_t(h[i] >> (24 - 8 * j));
  return out;
}

std::string base64(const uint8_t* p, size_t n) {
  static const char* tbl =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t(p[i]) << 16;
    if (i + 1 < n) v |= uint32_t(p[i + 1]) << 8;
    if (i + 2 < n) v |= uint32_t(p[i + 2]);
    out.push_back(tbl[(v >> 18) & 63]);
    out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? tbl[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? tbl[v & 63] : '=');
  }
  return out;
}

std::string ws_accept_for(const std::string& key) {
  auto d = sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  return base64(d.data(), d.size());
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = char(std::tolower(uint8_t(c)));
  return r;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

// Log-linear latency histogram (~1.6% resolution), values in nanoseconds.
struct Histogram {
  static constexpr int kBuckets = 128 + 64 * 60;
  std::vector<uint64_t> counts = std::vector<uint64_t>(kBuckets, 0);
  uint64_t total = 0, max_v = 0;
  static int bucket(uint64_t v) {
    if (v < 128) return int(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6;  // v >> shift is in [64, 128)
    return 128 + (shift - 1) * 64 + int((v >> shift) - 64);
  }
  static double value(int idx) {
    if (idx < 128) return idx;
    int shift = (idx - 128) / 64 + 1;
    uint64_t mant = uint64_t((idx - 128) % 64 + 64);
    return double(mant << shift) + double(1ull << shift) / 2.0;
  }
  void add(uint64_t v) {
    ++counts[size_t(bucket(v))];
    ++total;
    max_v = std::max(max_v, v);
  }
  double pct(double p) const {
    if (total == 0) return 0;
    uint64_t want = uint64_t(std::ceil(p / 100.0 * double(total)));
    if (want == 0) want = 1;
    uint64_t acc = 0;
    for (int i = 0; i < kBuckets; ++i) {
      acc += counts[size_t(i)];
      if (acc >= want) return std::min(value(i), double(max_v));
    }
    return double(max_v);
  }
};

long read_vmrss_kb(int pid) {
  if (pid <= 0) return -1;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) {
      kb = std::strtol(line + 6, nullptr, 10);
      break;
    }
  std::fclose(f);
  return kb;
}

// utime+stime of a process in seconds (from /proc/PID/stat), -1 if unknown.
double read_proc_cpu_s(int pid) {
  if (pid <= 0) return -1;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  char* p = std::strrchr(buf, ')');
  if (!p) return -1;
  // fields after ") ": state(3) ... utime(14) stime(15)
  unsigned long utime = 0, stime = 0;
  int field = 2;
  for (char* tok = std::strtok(p + 1, " "); tok; tok = std::strtok(nullptr, " ")) {
    ++field;
    if (field == 14) utime = std::strtoul(tok, nullptr, 10);
    if (field == 15) {
      stime = std::strtoul(tok, nullptr, 10);
      break;
    }
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// CPU seconds of the whole machine (all CPUs) from /proc/stat: busy in
// process context (user nice system irq steal) and softirq separately, since
// softirq (loopback packet processing, ours included) is charged to no process.
bool machine_cpu_s(double* busy, double* softirq) {
  *busy = *softirq = -1;
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return false;
  unsigned long long v[10] = {0};
  int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                      &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
  std::fclose(f);
  if (n < 8) return false;
  // fields: user nice system idle iowait irq softirq steal
  double hz = double(sysconf(_SC_CLK_TCK));
  *busy = double(v[0] + v[1] + v[2] + v[5] + v[7]) / hz;
  *softirq = double(v[6]) / hz;
  return true;
}

struct MachineSample {
  double busy = -1, softirq = -1;
  void take() { machine_cpu_s(&busy, &softirq); }
};

// CPU use of other processes over a window, in CPUs (softirq excluded): a
// value well above ~0.1 means another workload competed with this run.
double other_cpu(const MachineSample& a, const MachineSample& b, double srv, double cli,
                 double secs) {
  if (a.busy < 0 || b.busy < 0 || secs <= 0) return -1;
  double v = (b.busy - a.busy) / secs - std::max(srv, 0.0) - std::max(cli, 0.0);
  return v < 0 ? 0 : v;
}
double softirq_cpu(const MachineSample& a, const MachineSample& b, double secs) {
  if (a.softirq < 0 || b.softirq < 0 || secs <= 0) return -1;
  return (b.softirq - a.softirq) / secs;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------- options

struct Options {
  std::string host = "127.0.0.1";
  int port = 9001;
  std::string path = "/";
  std::string mode = "echo";
  std::string label;
  int conns = 1;
  double duration = 5;
  double warmup = 1;
  int pipeline = 1;
  size_t size = 16;
  bool binary = false;
  bool raw = false;
  bool tls = false;
  bool deflate = false;
  std::string deflate_offer = "permessage-deflate; client_no_context_takeover";
  std::string payload = "pattern";  // pattern | json
  int variants = 256;               // json: distinct messages
  int idle_msgs = 0;                // idle: messages echoed per connection before sampling
  uint64_t messages = 0;            // echo: stop after this many echoes in all (0: run D s)
  bool verify = false;
  int server_pid = 0;
  int src_addrs = 0;
  int connect_concurrency = 128;
  double setup_timeout = 60;
  double settle = 1.0;
};

void usage() {
  std::fprintf(stderr,
               "usage: loadgen [options]\n"
               "  --url ws://HOST:PORT/PATH   target (or --host/--port/--path)\n"
               "  --mode echo|handshake|idle   (default echo)\n"
               "  --conns N          connections (handshake: concurrent cycles)\n"
               "  --duration D       seconds measured (idle: seconds held)\n"
               "  --warmup W         seconds before measuring (echo, default 1)\n"
               "  --pipeline P       messages in flight per connection\n"
               "  --size S           payload bytes (suffix k/m = KiB/MiB)\n"
               "  --binary | --text  frame type (default text)\n"
               "  --raw              plain TCP byte echo baseline (no upgrade)\n"
               "  --tls              TLS (OpenSSL, certificate not checked); implied by wss://\n"
               "  --deflate          offer permessage-deflate\n"
               "  --deflate-offer O  extension offer: cnct (default: client_no_context_takeover),\n"
               "                     browser (client_max_window_bits, context takeover on),\n"
               "                     bare (no parameters), or a literal header value\n"
               "  --payload P        pattern (default, a..z) | json (varied JSON-like text)\n"
               "  --variants K       json: K distinct messages, cycled per connection (256)\n"
               "  --idle-msgs N      idle: echo N messages per connection before sampling\n"
               "  --messages N       echo: send N messages in all, end when all came back\n"
               "                     (no warmup; --duration is the time limit). For per-message\n"
               "                     counts (callgrind, strace) that do not depend on speed\n"
               "  --verify           check echoed payload bytes\n"
               "  --server-pid PID   sample server VmRSS / CPU\n"
               "  --src-addrs K      spread sources over 127.0.0.1..K\n"
               "  --connect-concurrency C  max connects/handshakes in progress\n"
               "  --setup-timeout T  seconds allowed to establish connections\n"
               "  --settle T         idle: seconds to wait before sampling RSS\n"
               "  --label NAME       copied into the JSON output\n");
}

size_t parse_size(const char* s) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end && (*end == 'k' || *end == 'K')) v *= 1024;
  if (end && (*end == 'm' || *end == 'M')) v *= 1024 * 1024;
  return size_t(v);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) die("missing value for %s", a.c_str());
      return argv[++i];
    };
    if (a == "--url") {
      std::string u = next();
      if (u.rfind("wss://", 0) == 0) {
        o.tls = true;
        u = u.substr(6);
      } else if (u.rfind("ws://", 0) == 0) {
        u = u.substr(5);
      } else {
        die("only ws:// and wss:// URLs are supported: %s", u.c_str());
      }
      size_t slash = u.find('/');
      std::string hp = slash == std::string::npos ? u : u.substr(0, slash);
      o.path = slash == std::string::npos ? "/" : u.substr(slash);
      size_t colon = hp.rfind(':');
      if (colon == std::string::npos) {
        o.host = hp;
        o.port = 80;
      } else {
        o.host = hp.substr(0, colon);
        o.port = std::atoi(hp.c_str() + colon + 1);
      }
      if (o.host == "localhost") o.host = "127.0.0.1";
    } else if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next());
    else if (a == "--path") o.path = next();
    else if (a == "--mode") o.mode = next();
    else if (a == "--label") o.label = next();
    else if (a == "--conns") o.conns = std::atoi(next());
    else if (a == "--duration") o.duration = std::atof(next());
    else if (a == "--warmup") o.warmup = std::atof(next());
    else if (a == "--pipeline") o.pipeline = std::atoi(next());
    else if (a == "--size") o.size = parse_size(next());
    else if (a == "--binary") o.binary = true;
    else if (a == "--text") o.binary = false;
    else if (a == "--raw") o.raw = true;
    else if (a == "--tls") o.tls = true;
    else if (a == "--deflate") o.deflate = true;
    else if (a == "--deflate-offer") {
      std::string v = next();
      if (v == "cnct") o.deflate_offer = "permessage-deflate; client_no_context_takeover";
      else if (v == "browser") o.deflate_offer = "permessage-deflate; client_max_window_bits";
      else if (v == "bare") o.deflate_offer = "permessage-deflate";
      else o.deflate_offer = v;
    } else if (a == "--payload") o.payload = next();
    else if (a == "--variants") o.variants = std::atoi(next());
    else if (a == "--idle-msgs") o.idle_msgs = std::atoi(next());
    else if (a == "--messages") o.messages = std::strtoull(next(), nullptr, 10);
    else if (a == "--verify") o.verify = true;
    else if (a == "--server-pid") o.server_pid = std::atoi(next());
    else if (a == "--src-addrs") o.src_addrs = std::atoi(next());
    else if (a == "--connect-concurrency") o.connect_concurrency = std::atoi(next());
    else if (a == "--setup-timeout") o.setup_timeout = std::atof(next());
    else if (a == "--settle") o.settle = std::atof(next());
    else if (a == "--selftest") {
      // RFC 6455 section 1.3 example.
      bool ok = ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
      Histogram h;
      for (uint64_t v = 1; v < 1000000; v += 7) ok = ok && Histogram::bucket(v) < Histogram::kBuckets &&
                                                         std::fabs(Histogram::value(Histogram::bucket(v)) - double(v)) <= double(v) * 0.02 + 1;
      std::printf("selftest %s\n", ok ? "ok" : "FAILED");
      std::exit(ok ? 0 : 1);
    } else if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else {
      usage();
      die("unknown option %s", a.c_str());
    }
  }
  if (o.mode != "echo" && o.mode != "handshake" && o.mode != "idle")
    die("bad --mode %s", o.mode.c_str());
  if (o.conns < 1 || o.pipeline < 1) die("--conns and --pipeline must be >= 1");
  if (o.raw && o.deflate) die("--raw and --deflate are exclusive");
  if (o.raw && o.tls) die("--raw and --tls are exclusive");
  if (o.payload != "pattern" && o.payload != "json") die("bad --payload %s", o.payload.c_str());
  if (o.payload == "json" && o.raw) die("--payload json is not supported with --raw");
  if (o.payload == "json" && o.size < 128) die("--payload json needs --size >= 128");
  if (o.variants < 1) o.variants = 1;
  if (o.idle_msgs < 0) o.idle_msgs = 0;
  if (o.idle_msgs > o.pipeline) o.pipeline = o.idle_msgs;  // all in flight at once
  if (o.src_addrs <= 0) o.src_addrs = o.conns > 20000 ? (o.conns + 19999) / 20000 : 1;
  if (o.src_addrs > 254) o.src_addrs = 254;
  if (o.connect_concurrency < 1) o.connect_concurrency = 1;
  return o;
}

// ---------------------------------------------------------------- frames

uint8_t payload_byte(size_t i) { return uint8_t('a' + i % 26); }

// Deterministic JSON-like text message number v of exactly `size` bytes: the
// same keys in every message (what permessage-deflate's shared window can
// exploit), values drawn from a PRNG seeded with v, padded with words.
std::string json_message(size_t size, uint32_t v) {
  static const char* kTypes[] = {"order", "trade", "quote", "cancel", "fill", "heartbeat"};
  static const char* kWords[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
                                 "hotel", "india", "juliet", "kilo", "lima", "mike", "november",
                                 "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform",
                                 "victor", "whiskey", "xray", "yankee", "zulu", "market", "limit",
                                 "stop", "buy", "sell", "pending"};
  static const char* kCountries[] = {"DE", "FR", "US", "JP", "BR", "IN", "GB", "CA"};
  std::mt19937 r(0x9e3779b9u ^ (v * 2654435761u));
  auto pick = [&](uint32_t n) { return uint32_t(r() % n); };
  char buf[256];
  std::string s;
  std::snprintf(buf, sizeof buf,
                "{\"seq\":%u,\"ts\":%llu,\"type\":\"%s\",\"user\":{\"id\":%u,\"name\":\"user_%04u\","
                "\"country\":\"%s\",\"verified\":%s},\"items\":[",
                v, 1700000000000ull + v * 37ull + pick(1000), kTypes[pick(6)], pick(100000),
                pick(10000), kCountries[pick(8)], pick(2) ? "true" : "false");
  s = buf;
  const size_t tail_min = 16;  // room for ],"note":"" }
  for (int item = 0;; ++item) {
    std::snprintf(buf, sizeof buf,
                  "%s{\"sku\":\"SKU-%05u\",\"qty\":%u,\"price\":%u.%02u,\"side\":\"%s\",\"tag\":\"%s\"}",
                  item ? "," : "", pick(100000), 1 + pick(50), pick(1000), pick(100),
                  pick(2) ? "buy" : "sell", kWords[pick(32)]);
    if (s.size() + std::strlen(buf) + tail_min + 40 > size / 2 + 64 || item >= 8) break;
    s += buf;
  }
  s += "],\"note\":\"";
  while (s.size() + 2 < size) {
    std::string w = kWords[pick(32)];
    w += ' ';
    size_t room = size - 2 - s.size();
    s.append(w, 0, std::min(room, w.size()));
  }
  s += "\"}";
  s.resize(size, ' ');  // only when size is too small for the structure
  return s;
}

// Client frame: FIN + opcode (+RSV1), MASK bit, 7/16/64-bit length, mask key.
std::string build_client_frame(uint8_t opcode, bool rsv1, const std::string& payload,
                               std::mt19937_64& rng) {
  std::string f;
  f.push_back(char(0x80 | (rsv1 ? 0x40 : 0) | opcode));
  size_t n = payload.size();
  if (n < 126) {
    f.push_back(char(0x80 | n));
  } else if (n <= 0xffff) {
    f.push_back(char(0x80 | 126));
    f.push_back(char(n >> 8));
    f.push_back(char(n & 0xff));
  } else {
    f.push_back(char(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(char((uint64_t(n) >> (8 * i)) & 0xff));
  }
  uint32_t key = uint32_t(rng());
  uint8_t mk[4] = {uint8_t(key >> 24), uint8_t(key >> 16), uint8_t(key >> 8), uint8_t(key)};
  f.append(reinterpret_cast<char*>(mk), 4);
  size_t base = f.size();
  f.append(payload);
  for (size_t i = 0; i < n; ++i) f[base + i] = char(uint8_t(f[base + i]) ^ mk[i & 3]);
  return f;
}

std::string deflate_message(const std::string& in, int wbits = 15) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -std::max(wbits, 9), 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    die("deflateInit2 failed");
  std::string out(deflateBound(&zs, uLong(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = uInt(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK) die("deflate failed");
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  // RFC 7692: strip the trailing empty stored block 00 00 ff ff.
  if (out.size() >= 4 && out.compare(out.size() - 4, 4, std::string("\0\0\xff\xff", 4)) == 0)
    out.resize(out.size() - 4);
  return out;
}

// ---------------------------------------------------------------- connection

enum class St : uint8_t { Free, Connecting, Upgrading, Open, Closing };

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;  // --tls
  // --tls: an SSL_write of data frames is waiting to be retried; until it is, no control
  // bytes may go (TLS must be given the same bytes again).
  bool tls_data_pending = false;
  uint32_t gen = 0;
  St st = St::Free;
  uint64_t t_begin = 0;  // cycle start (handshake mode)
  std::string hs_in;     // handshake response bytes
  std::string expect_accept;
  bool deflate = false;
  bool got_eof = false;

  // Output: control bytes (handshake, pong, close) go first but only at a
  // frame boundary; data frames are all identical so we only count them.
  std::string ctrl_out;
  uint64_t frames_pending = 0;
  size_t frame_off = 0;

  // In-flight send timestamps (FIFO ring, capacity = pipeline).
  std::vector<uint64_t> ts;
  uint32_t ts_head = 0, ts_count = 0;

  // Frame parser.
  uint8_t hdr[14];
  uint8_t hdr_len = 0;
  bool in_payload = false;
  uint8_t f_op = 0;
  bool f_fin = false;
  bool f_masked = false;
  uint8_t f_mask[4] = {0, 0, 0, 0};
  uint64_t f_left = 0;
  uint64_t f_pos = 0;  // payload offset within the frame
  std::string ctl;     // control frame payload
  bool msg_active = false;
  bool msg_compressed = false;
  uint64_t msg_len = 0;
  uint64_t msg_wire = 0;   // frame payload bytes of the current message
  uint32_t send_var = 0;   // --payload json: variant of the next frame to send
  uint32_t recv_var = 0;   // ... and of the next echo expected (FIFO)
  z_stream* inflater = nullptr;

  // raw mode
  uint64_t raw_rx = 0;  // bytes received of the current frame
};

struct Stats {
  uint64_t msgs = 0, bytes = 0;
  uint64_t handshakes = 0;
  uint64_t connect_errors = 0, handshake_errors = 0, proto_errors = 0, verify_errors = 0,
           closed_by_server = 0, close_timeouts = 0;
  uint64_t rx_compressed = 0;  // messages that arrived with RSV1 (deflated)
  uint64_t rx_wire = 0;        // measured window: frame payload bytes of echoes
  uint64_t echoes = 0;         // all echoes received (idle --idle-msgs)
  Histogram lat;
};

class LoadGen {
 public:
  explicit LoadGen(Options o) : o_(std::move(o)), rng_(std::random_device{}()) {}
  int run();

 private:
  Options o_;
  std::mt19937_64 rng_;
  int ep_ = -1;
  sockaddr_in dst_{};
  std::vector<Conn> conns_;
  std::vector<uint32_t> free_;
  Stats st_;
  std::string ring_;  // k identical client frames back to back
  size_t flen_ = 0;   // one frame's length
  // --payload json: pool of distinct messages; frames back to back in
  // pool_ring_, frame v at [pool_off_[v], pool_off_[v + 1]).
  std::vector<std::string> pool_;
  std::string pool_ring_;
  std::vector<size_t> pool_off_;
  double tx_ratio_ = 0;       // payload bytes / compressed payload bytes sent
  int pool_wbits_ = 15;       // deflate window the pool was compressed with
  bool data_started_ = false; // a data frame was queued (the pool is fixed)
  void build_pool(int wbits);
  std::string pmd_response_;  // the server's Sec-WebSocket-Extensions answer
  uint8_t expect_byte(const Conn& c, size_t i) const {
    if (pool_.empty()) return payload_byte(i);
    const std::string& m = pool_[c.recv_var];
    return i < m.size() ? uint8_t(m[i]) : uint8_t(~payload_byte(i));
  }
  std::string close_frame_;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(1 << 18);
  std::vector<uint8_t> zbuf_ = std::vector<uint8_t>(1 << 18);
  bool sending_ = false;    // enqueue replacement messages on echo
  bool measuring_ = false;  // count echoes
  uint64_t meas_start_ = 0, meas_end_ = 0;
  bool keep_cycling_ = false;  // handshake mode: start new cycles
  int in_setup_ = 0;           // connections Connecting/Upgrading
  int open_ = 0;
  int next_src_ = 0;
  uint64_t started_ = 0;  // connections started (setup)
  SSL_CTX* tls_ctx_ = nullptr;  // --tls

  // send() / recv() on the connection, through its TLS session with --tls. Like the system
  // calls: -1 with errno EAGAIN while the socket (or TLS, e.g. in its handshake) must wait.
  ssize_t conn_send(Conn& c, const void* p, size_t n);
  ssize_t conn_recv(Conn& c, void* p, size_t n);
  void init_tls();

  bool start_conn(uint32_t idx);
  void release(Conn& c, uint32_t idx);
  void handle_event(uint32_t idx, uint32_t ev);
  bool flush(Conn& c);
  void on_upgraded(Conn& c, uint32_t idx, const char* extra, size_t n);
  bool feed_ws(Conn& c, uint32_t idx, const uint8_t* p, size_t n, uint64_t now);
  void on_message(Conn& c, uint64_t now);
  void finish_frame(Conn& c, uint32_t idx);
  void begin_close(Conn& c);
  uint64_t queued_total_ = 0;  // messages queued in all (--messages)
  void enqueue(Conn& c, uint64_t now) {
    if (o_.messages > 0 && queued_total_ >= o_.messages) return;
    ++queued_total_;
    data_started_ = true;
    ++c.frames_pending;
    c.ts[(c.ts_head + c.ts_count) % c.ts.size()] = now;
    ++c.ts_count;
  }
  void poll_once(int timeout_ms);
  void reap_stuck(uint64_t now, uint64_t max_age_ns);
  void fill_setup();
  bool setup_all();
  void close_all(double timeout_s);
  void prepare_frames();
  void emit(const std::string& extra);
};

void LoadGen::prepare_frames() {
  std::string code("\x03\xe8", 2);  // 1000 normal closure
  if (o_.payload == "json") {
    build_pool(15);
    close_frame_ = build_client_frame(8, false, code, rng_);
    return;
  }
  std::string payload(o_.size, '\0');
  for (size_t i = 0; i < o_.size; ++i) payload[i] = char(payload_byte(i));
  uint8_t opcode = o_.binary ? 2 : 1;
  std::string frame = o_.deflate ? build_client_frame(opcode, true, deflate_message(payload), rng_)
                                 : build_client_frame(opcode, false, payload, rng_);
  flen_ = frame.size();
  size_t k = std::max<size_t>(1, std::min<size_t>(size_t(o_.pipeline), (1u << 20) / flen_));
  ring_.reserve(k * flen_);
  for (size_t i = 0; i < k; ++i) ring_ += frame;
  close_frame_ = build_client_frame(8, false, code, rng_);
}

void LoadGen::build_pool(int wbits) {
  uint8_t opcode = o_.binary ? 2 : 1;
  size_t plain = 0, wire = 0;
  pool_.clear();
  pool_ring_.clear();
  pool_off_.assign(1, 0);
  pool_wbits_ = wbits;
  for (int v = 0; v < o_.variants; ++v) {
    pool_.push_back(json_message(o_.size, uint32_t(v)));
    // Each message is compressed on its own (a fresh deflate stream): valid
    // whether or not client context takeover was negotiated, and the client
    // spends no CPU compressing during the run.
    std::string body = o_.deflate ? deflate_message(pool_.back(), wbits) : pool_.back();
    plain += pool_.back().size();
    wire += body.size();
    pool_ring_ += build_client_frame(opcode, o_.deflate, body, rng_);
    pool_off_.push_back(pool_ring_.size());
  }
  tx_ratio_ = wire ? double(plain) / double(wire) : 0;
  flen_ = pool_ring_.size() / pool_.size();
}

void LoadGen::init_tls() {
  tls_ctx_ = SSL_CTX_new(TLS_client_method());
  if (tls_ctx_ == nullptr) die("SSL_CTX_new failed");
  SSL_CTX_set_verify(tls_ctx_, SSL_VERIFY_NONE, nullptr);  // loopback benchmark only
  // No partial writes: SSL_write takes all or waits (flush() reads a short write as a full
  // socket). A write that waited is retried with the same bytes, possibly more of them (the
  // ring's pointer is the same, but allow it to move).
  SSL_CTX_set_mode(tls_ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Reads as much ciphertext per recv() as fits, not one record header + body per call: the
  // client spends less CPU per message, like the plain client's 256 KiB reads.
  SSL_CTX_set_read_ahead(tls_ctx_, 1);
  SSL_CTX_set_default_read_buffer_len(tls_ctx_, 1 << 18);
}

ssize_t LoadGen::conn_send(Conn& c, const void* p, size_t n) {
  if (c.ssl == nullptr) return send(c.fd, p, n, MSG_NOSIGNAL);
  if (n == 0) return 0;
  size_t written = 0;
  ERR_clear_error();
  int r = SSL_write_ex(c.ssl, p, n, &written);
  if (r == 1) return ssize_t(written);
  int e = SSL_get_error(c.ssl, r);
  errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EPIPE;
  return -1;
}

ssize_t LoadGen::conn_recv(Conn& c, void* p, size_t n) {
  if (c.ssl == nullptr) return recv(c.fd, p, n, 0);
  size_t got = 0;
  ERR_clear_error();
  int r = SSL_read_ex(c.ssl, p, n, &got);
  if (r == 1) return ssize_t(got);
  int e = SSL_get_error(c.ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify
  if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) return 0;  // bare EOF
  errno = ECONNRESET;
  return -1;
}

bool LoadGen::start_conn(uint32_t idx) {
  Conn& c = conns_[idx];
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    ++st_.connect_errors;
    return false;
  }
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (o_.src_addrs > 1) {
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u + uint32_t(next_src_));
    next_src_ = (next_src_ + 1) % o_.src_addrs;
    if (bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      close(c.fd);
      c.fd = -1;
      ++st_.connect_errors;
      return false;
    }
  }
  ++c.gen;
  c.st = St::Connecting;
  c.t_begin = now_ns();
  c.hs_in.clear();
  c.ctrl_out.clear();
  c.frames_pending = 0;
  c.frame_off = 0;
  c.ts_head = c.ts_count = 0;
  c.hdr_len = 0;
  c.in_payload = false;
  c.msg_active = false;
  c.raw_rx = 0;
  c.got_eof = false;
  c.deflate = false;
  c.msg_wire = 0;
  if (!pool_.empty()) c.send_var = c.recv_var = uint32_t((uint64_t(idx) * 37u) % pool_.size());
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = (uint64_t(c.gen) << 32) | idx;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl: %s", std::strerror(errno));
  int r = connect(c.fd, reinterpret_cast<sockaddr*>(&dst_), sizeof dst_);
  if (r != 0 && errno != EINPROGRESS) {
    ++st_.connect_errors;
    release(c, idx);
    return false;
  }
  ++in_setup_;
  return true;
}

void LoadGen::release(Conn& c, uint32_t idx) {
  if (c.st == St::Connecting || c.st == St::Upgrading) --in_setup_;
  if (c.st == St::Open) --open_;
  if (c.ssl != nullptr) SSL_free(c.ssl);
  c.ssl = nullptr;
  c.tls_data_pending = false;
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.st = St::Free;
  ++c.gen;
  if (c.inflater) {
    inflateEnd(c.inflater);
    delete c.inflater;
    c.inflater = nullptr;
  }
  free_.push_back(idx);
}

bool LoadGen::flush(Conn& c) {
  for (;;) {
    if (!c.ctrl_out.empty() && c.frame_off == 0 && !c.tls_data_pending) {
      ssize_t n = conn_send(c, c.ctrl_out.data(), c.ctrl_out.size());
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      c.ctrl_out.erase(0, size_t(n));
      if (!c.ctrl_out.empty()) return true;
      continue;
    }
    if (c.frames_pending == 0) return true;
    c.tls_data_pending = c.ssl != nullptr;  // cleared below once the write went through
    if (!pool_.empty()) {
      // Frames of consecutive variants are contiguous up to the pool's end.
      size_t v = c.send_var;
      size_t nframes = size_t(std::min<uint64_t>(c.frames_pending, pool_.size() - v));
      size_t start = pool_off_[v] + c.frame_off;
      size_t len = pool_off_[v + nframes] - start;
      ssize_t n = conn_send(c, pool_ring_.data() + start, len);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      c.tls_data_pending = false;
      size_t pos = start + size_t(n);
      while (v < pool_.size() && pool_off_[v + 1] <= pos) {
        ++v;
        --c.frames_pending;
      }
      if (v == pool_.size()) {
        v = 0;  // the last frame of the pool was completed: wrap
        c.frame_off = 0;
      } else {
        c.frame_off = pos - pool_off_[v];
      }
      c.send_var = uint32_t(v);
      if (size_t(n) < len) return true;
      continue;
    }
    size_t ring_frames = ring_.size() / flen_;
    size_t nframes = size_t(std::min<uint64_t>(c.frames_pending, ring_frames));
    size_t len = nframes * flen_ - c.frame_off;
    ssize_t n = conn_send(c, ring_.data() + c.frame_off, len);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c.tls_data_pending = false;
    size_t total = c.frame_off + size_t(n);
    c.frames_pending -= total / flen_;
    c.frame_off = total % flen_;
    if (size_t(n) < len) return true;
  }
}

void LoadGen::begin_close(Conn& c) {
  if (c.st == St::Open) --open_;
  c.st = St::Closing;
  c.frames_pending = c.frame_off ? 1 : 0;  // finish a partial frame only
  c.t_begin = now_ns();
  if (o_.raw) {
    shutdown(c.fd, SHUT_WR);
  } else {
    c.ctrl_out += close_frame_;
  }
}

void LoadGen::on_upgraded(Conn& c, uint32_t idx, const char* extra, size_t n) {
  --in_setup_;
  if (o_.mode == "handshake") {
    ++st_.handshakes;
    c.st = St::Open;
    ++open_;
    begin_close(c);
    flush(c);
  } else {
    c.st = St::Open;
    ++open_;
  }
  if (n && !o_.raw) feed_ws(c, idx, reinterpret_cast<const uint8_t*>(extra), n, now_ns());
}

void LoadGen::on_message(Conn& c, uint64_t now) {
  if (c.ts_count == 0) {
    ++st_.proto_errors;  // unsolicited message
    return;
  }
  uint64_t sent = c.ts[c.ts_head];
  c.ts_head = uint32_t((c.ts_head + 1) % c.ts.size());
  --c.ts_count;
  ++st_.echoes;
  if (measuring_ && now >= meas_start_ && now <= meas_end_) {
    ++st_.msgs;
    st_.bytes += o_.size;
    st_.rx_wire += c.msg_wire;
    st_.lat.add(now - sent);
  }
  if (sending_ && c.st == St::Open) enqueue(c, now);
}

void LoadGen::finish_frame(Conn& c, uint32_t idx) {
  (void)idx;
  c.in_payload = false;
  if (c.f_op >= 8) {
    if (c.f_op == 8) {  // close
      if (c.st == St::Open) {
        ++st_.closed_by_server;
        begin_close(c);
      }
    } else if (c.f_op == 9) {  // ping -> pong
      std::mt19937_64 r(rng_());
      c.ctrl_out += build_client_frame(10, false, c.ctl, r);
    }
    c.ctl.clear();
    return;
  }
  if (!c.f_fin) return;
  if (c.msg_compressed && c.inflater) {
    static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
    z_stream* z = c.inflater;
    z->next_in = const_cast<Bytef*>(tail);
    z->avail_in = 4;
    do {
      z->next_out = zbuf_.data();
      z->avail_out = uInt(zbuf_.size());
      int r = inflate(z, Z_SYNC_FLUSH);
      if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) {
        ++st_.proto_errors;
        break;
      }
      size_t got = zbuf_.size() - z->avail_out;
      if (o_.verify)
        for (size_t i = 0; i < got; ++i)
          if (zbuf_[i] != expect_byte(c, c.msg_len + i)) {
            ++st_.verify_errors;
            break;
          }
      c.msg_len += got;
      if (got == 0) break;
    } while (z->avail_out == 0 || z->avail_in > 0);
  }
  c.msg_active = false;
  if (c.msg_compressed) ++st_.rx_compressed;
  if (c.msg_len != o_.size) ++st_.verify_errors;
  if (!pool_.empty()) c.recv_var = uint32_t((c.recv_var + 1) % pool_.size());
  if (c.st == St::Open) on_message(c, now_ns());
}

// Streaming frame parser: consumes server frames from p[0..n).
bool LoadGen::feed_ws(Conn& c, uint32_t idx, const uint8_t* p, size_t n, uint64_t now) {
  (void)now;
  while (n > 0) {
    if (!c.in_payload) {
      // Collect the header: 2 bytes, then extended length and mask key.
      size_t need = 2;
      if (c.hdr_len >= 2) {
        uint8_t l7 = c.hdr[1] & 0x7f;
        need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((c.hdr[1] & 0x80) ? 4 : 0);
      }
      while (c.hdr_len < need && n > 0) {
        c.hdr[c.hdr_len++] = *p++;
        --n;
        if (c.hdr_len == 2) {
          uint8_t l7 = c.hdr[1] & 0x7f;
          need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((c.hdr[1] & 0x80) ? 4 : 0);
        }
      }
      if (c.hdr_len < need) return true;
      uint8_t b0 = c.hdr[0], b1 = c.hdr[1];
      c.f_fin = b0 & 0x80;
      bool rsv1 = b0 & 0x40;
      c.f_op = b0 & 0x0f;
      c.f_masked = b1 & 0x80;
      uint64_t len = b1 & 0x7f;
      size_t pos = 2;
      if (len == 126) {
        len = (uint64_t(c.hdr[2]) << 8) | c.hdr[3];
        pos = 4;
      } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | c.hdr[2 + i];
        pos = 10;
      }
      if (c.f_masked) {
        ++st_.proto_errors;  // servers must not mask; tolerate it
        std::memcpy(c.f_mask, c.hdr + pos, 4);
      }
      c.hdr_len = 0;
      c.in_payload = true;
      c.f_left = len;
      c.f_pos = 0;
      if (c.f_op >= 8) {
        c.ctl.clear();
        if (!c.f_fin || len > 125) ++st_.proto_errors;
      } else if (c.f_op != 0) {
        if (c.msg_active) ++st_.proto_errors;
        if (c.f_op != (o_.binary ? 2 : 1)) ++st_.verify_errors;
        c.msg_active = true;
        c.msg_len = 0;
        c.msg_wire = 0;
        c.msg_compressed = rsv1;
        if (rsv1) {
          if (!c.deflate) ++st_.proto_errors;
          if (!c.inflater) {
            c.inflater = new z_stream{};
            if (inflateInit2(c.inflater, -15) != Z_OK) die("inflateInit2 failed");
          }
        }
      } else if (!c.msg_active) {
        ++st_.proto_errors;  // continuation without a message
      }
      if (c.f_op < 8) c.msg_wire += len;
      if (c.f_left == 0) finish_frame(c, idx);
      continue;
    }
    size_t take = size_t(std::min<uint64_t>(c.f_left, n));
    if (c.f_op >= 8) {
      for (size_t i = 0; i < take; ++i)
        c.ctl.push_back(char(c.f_masked ? p[i] ^ c.f_mask[(c.f_pos + i) & 3] : p[i]));
    } else if (c.msg_compressed && c.inflater) {
      z_stream* z = c.inflater;
      z->next_in = const_cast<Bytef*>(p);
      z->avail_in = uInt(take);
      while (z->avail_in > 0) {
        z->next_out = zbuf_.data();
        z->avail_out = uInt(zbuf_.size());
        int r = inflate(z, Z_SYNC_FLUSH);
        if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) {
          ++st_.proto_errors;
          break;
        }
        size_t got = zbuf_.size() - z->avail_out;
        if (o_.verify)
          for (size_t i = 0; i < got; ++i)
            if (zbuf_[i] != expect_byte(c, c.msg_len + i)) {
              ++st_.verify_errors;
              break;
            }
        c.msg_len += got;
        if (got == 0 && r == Z_BUF_ERROR) break;
      }
    } else {
      if (o_.verify)
        for (size_t i = 0; i < take; ++i) {
          uint8_t b = c.f_masked ? p[i] ^ c.f_mask[(c.f_pos + i) & 3] : p[i];
          if (b != expect_byte(c, c.msg_len + i)) {
            ++st_.verify_errors;
            break;
          }
        }
      c.msg_len += take;
    }
    c.f_left -= take;
    c.f_pos += take;
    p += take;
    n -= take;
    if (c.f_left == 0) finish_frame(c, idx);
  }
  return true;
}

void LoadGen::handle_event(uint32_t idx, uint32_t ev) {
  Conn& c = conns_[idx];
  if (c.st == St::Connecting) {
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        ++st_.connect_errors;
        release(c, idx);
        return;
      }
      if (o_.raw) {
        on_upgraded(c, idx, nullptr, 0);
      } else {
        if (tls_ctx_ != nullptr) {
          c.ssl = SSL_new(tls_ctx_);
          if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
            ++st_.handshake_errors;
            release(c, idx);
            return;
          }
          SSL_set_connect_state(c.ssl);  // the first SSL_write of the upgrade runs the handshake
        }
        uint8_t keyb[16];
        for (auto& b : keyb) b = uint8_t(rng_());
        std::string key = base64(keyb, 16);
        c.expect_accept = ws_accept_for(key);
        c.st = St::Upgrading;
        c.ctrl_out = "GET " + o_.path + " HTTP/1.1\r\nHost: " + o_.host + ":" +
                     std::to_string(o_.port) +
                     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " +
                     key + "\r\nSec-WebSocket-Version: 13\r\n";
        if (o_.deflate) c.ctrl_out += "Sec-WebSocket-Extensions: " + o_.deflate_offer + "\r\n";
        c.ctrl_out += "\r\n";
      }
    } else {
      return;
    }
  }
  if (c.st == St::Free) return;
  if (!flush(c)) {
    if (c.st == St::Upgrading) ++st_.handshake_errors;
    else if (c.st == St::Open) ++st_.closed_by_server;
    release(c, idx);
    return;
  }
  // TLS may hold decrypted input already read from the socket (read-ahead, or by a handshake
  // step of SSL_write): no edge would announce it, so a TLS connection always reads.
  if (c.ssl == nullptr && !(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  uint64_t now = now_ns();
  for (;;) {
    ssize_t n = conn_recv(c, rbuf_.data(), rbuf_.size());
    if (n > 0) {
      if (c.st == St::Upgrading) {
        size_t old = c.hs_in.size();
        c.hs_in.append(reinterpret_cast<char*>(rbuf_.data()), size_t(n));
        size_t end = c.hs_in.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
        if (end == std::string::npos) {
          if (c.hs_in.size() > 16384) {
            ++st_.handshake_errors;
            release(c, idx);
            return;
          }
        } else {
          std::string head = c.hs_in.substr(0, end + 2);
          bool ok = head.rfind("HTTP/1.1 101", 0) == 0;
          bool accept_ok = false;
          size_t pos = head.find("\r\n");
          while (ok && pos != std::string::npos && pos + 2 < head.size()) {
            size_t e = head.find("\r\n", pos + 2);
            std::string line = head.substr(pos + 2, e - pos - 2);
            pos = e;
            size_t colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string name = lower(trim(line.substr(0, colon)));
            std::string value = trim(line.substr(colon + 1));
            if (name == "sec-websocket-accept") accept_ok = value == c.expect_accept;
            if (name == "sec-websocket-extensions" &&
                lower(value).find("permessage-deflate") != std::string::npos) {
              c.deflate = true;
              if (pmd_response_.empty()) pmd_response_ = value;
              // A server may cap the client's window (client_max_window_bits=N):
              // recompress the pool with that window while nothing is sent yet.
              size_t w = lower(value).find("client_max_window_bits=");
              if (w != std::string::npos && !pool_.empty() && o_.deflate) {
                int bits = std::atoi(value.c_str() + w + 23);
                if (bits >= 8 && bits < pool_wbits_) {
                  if (!data_started_) build_pool(bits);
                  else ++st_.proto_errors;  // too late: frames may be in flight
                }
              }
            }
          }
          if (!ok || !accept_ok || (c.deflate && !o_.deflate)) {
            ++st_.handshake_errors;
            if (st_.handshake_errors == 1)
              std::fprintf(stderr, "loadgen: bad upgrade response:\n%s\n", head.c_str());
            release(c, idx);
            return;
          }
          std::string rest = c.hs_in.substr(end + 4);
          c.hs_in.clear();
          c.hs_in.shrink_to_fit();
          on_upgraded(c, idx, rest.data(), rest.size());
          if (c.st == St::Free) return;
          if (!flush(c)) {
            release(c, idx);
            return;
          }
        }
      } else if (o_.raw) {
        uint64_t total = c.raw_rx + uint64_t(n);
        uint64_t frames = total / flen_;
        c.raw_rx = total % flen_;
        for (uint64_t i = 0; i < frames; ++i) on_message(c, now);
      } else {
        feed_ws(c, idx, rbuf_.data(), size_t(n), now);
      }
      if (c.ssl == nullptr && size_t(n) < rbuf_.size()) {  // TLS reads a record at a time
        // Short read: drained for now (edge-triggered; a new edge will come).
        if (!(ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) break;
      }
      continue;
    }
    if (n == 0) {
      // Peer closed.
      if (c.st == St::Upgrading) {
        ++st_.handshake_errors;
      } else if (c.st == St::Open) {
        ++st_.closed_by_server;
      }
      bool was_cycle = c.st == St::Closing && o_.mode == "handshake";
      release(c, idx);
      if (was_cycle && keep_cycling_) {
        uint32_t j = free_.back();
        free_.pop_back();
        start_conn(j);
      }
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    if (c.st == St::Upgrading) ++st_.handshake_errors;
    else if (c.st == St::Open) ++st_.closed_by_server;
    bool was_cycle = c.st == St::Closing && o_.mode == "handshake";
    release(c, idx);
    if (was_cycle && keep_cycling_) {
      uint32_t j = free_.back();
      free_.pop_back();
      start_conn(j);
    }
    return;
  }
  if (c.st != St::Free && !flush(c)) {
    if (c.st == St::Open) ++st_.closed_by_server;
    release(c, idx);
  }
}

void LoadGen::poll_once(int timeout_ms) {
  epoll_event evs[512];
  int n = epoll_wait(ep_, evs, 512, timeout_ms);
  for (int i = 0; i < n; ++i) {
    uint32_t idx = uint32_t(evs[i].data.u64 & 0xffffffffu);
    uint32_t gen = uint32_t(evs[i].data.u64 >> 32);
    if (idx >= conns_.size() || conns_[idx].gen != gen || conns_[idx].st == St::Free) continue;
    handle_event(idx, evs[i].events);
  }
}

// Handshake mode: give up on cycles that hang (server never answers or never
// closes), so one misbehaving connection cannot stall a slot for the whole run.
void LoadGen::reap_stuck(uint64_t now, uint64_t max_age_ns) {
  for (uint32_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    if (c.st == St::Free || c.st == St::Open || now - c.t_begin < max_age_ns) continue;
    if (c.st == St::Closing) ++st_.close_timeouts;
    else ++st_.handshake_errors;
    release(c, i);
  }
}

// Start connections until the target is reached or C are in progress.
void LoadGen::fill_setup() {
  while (started_ < uint64_t(o_.conns) && in_setup_ < o_.connect_concurrency && !free_.empty()) {
    uint32_t idx = free_.back();
    free_.pop_back();
    ++started_;
    start_conn(idx);
  }
}

bool LoadGen::setup_all() {
  uint64_t deadline = now_ns() + uint64_t(o_.setup_timeout * 1e9);
  while (true) {
    fill_setup();
    if (started_ >= uint64_t(o_.conns) && in_setup_ == 0) break;
    if (now_ns() > deadline) {
      std::fprintf(stderr, "loadgen: setup timeout: %d open, %d pending\n", open_, in_setup_);
      break;
    }
    poll_once(10);
  }
  return open_ > 0;
}

void LoadGen::close_all(double timeout_s) {
  for (uint32_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    if (c.st == St::Open) {
      begin_close(c);
      if (!flush(c)) release(c, i);
    } else if (c.st == St::Connecting || c.st == St::Upgrading) {
      release(c, i);
    }
  }
  uint64_t deadline = now_ns() + uint64_t(timeout_s * 1e9);
  auto any_left = [&] {
    for (auto& c : conns_)
      if (c.st != St::Free) return true;
    return false;
  };
  while (any_left() && now_ns() < deadline) poll_once(10);
  for (uint32_t i = 0; i < conns_.size(); ++i)
    if (conns_[i].st != St::Free) {
      ++st_.close_timeouts;
      release(conns_[i], i);
    }
}

void json_str(std::string& out, const char* key, const std::string& v) {
  out += "\"";
  out += key;
  out += "\":\"";
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (uint8_t(ch) < 0x20) continue;
    out += ch;
  }
  out += "\",";
}

template <class T>
void json_num(std::string& out, const char* key, T v) {
  char buf[64];
  if constexpr (std::is_floating_point_v<T>) std::snprintf(buf, sizeof buf, "\"%s\":%.6g,", key, double(v));
  else std::snprintf(buf, sizeof buf, "\"%s\":%lld,", key, (long long)v);
  out += buf;
}

void LoadGen::emit(const std::string& extra) {
  std::string out = "{";
  json_str(out, "label", o_.label);
  json_str(out, "mode", o_.mode);
  json_str(out, "proto", o_.raw ? "raw" : o_.tls ? (o_.deflate ? "wss-deflate" : "wss") : o_.deflate ? "ws-deflate" : "ws");
  json_str(out, "target", o_.host + ":" + std::to_string(o_.port) + o_.path);
  json_num(out, "conns", o_.conns);
  json_num(out, "pipeline", o_.pipeline);
  json_num(out, "size", o_.size);
  json_str(out, "type", o_.binary ? "binary" : "text");
  json_num(out, "frame_bytes", flen_);
  out += extra;
  json_num(out, "connect_errors", st_.connect_errors);
  json_num(out, "handshake_errors", st_.handshake_errors);
  json_num(out, "proto_errors", st_.proto_errors);
  json_num(out, "verify_errors", st_.verify_errors);
  json_num(out, "closed_by_server", st_.closed_by_server);
  json_num(out, "close_timeouts", st_.close_timeouts);
  if (o_.deflate) {
    json_num(out, "rx_compressed", st_.rx_compressed);
    json_str(out, "pmd_offer", o_.deflate_offer);
    json_str(out, "pmd_response", pmd_response_);
  }
  if (!pool_.empty()) {
    json_str(out, "payload", o_.payload);
    json_num(out, "variants", pool_.size());
    if (o_.deflate) json_num(out, "tx_ratio", tx_ratio_);
  }
  if (o_.deflate && o_.mode == "echo" && st_.rx_wire) {
    // Echoed payload bytes / frame payload bytes received (compression ratio
    // of the server's replies; 1.0 when it does not compress).
    json_num(out, "rx_wire_bytes", st_.rx_wire);
    json_num(out, "rx_ratio", double(st_.bytes) / double(st_.rx_wire));
  }
  out.back() = '}';
  std::printf("%s\n", out.c_str());
  std::fflush(stdout);
}

int LoadGen::run() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rlim_t(o_.conns) + 32 > rl.rlim_cur)
    std::fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE %lu < conns\n", (unsigned long)rl.rlim_cur);

  dst_.sin_family = AF_INET;
  dst_.sin_port = htons(uint16_t(o_.port));
  if (inet_pton(AF_INET, o_.host.c_str(), &dst_.sin_addr) != 1)
    die("host must be an IPv4 address: %s", o_.host.c_str());
  if ((ntohl(dst_.sin_addr.s_addr) >> 24) != 127) die("refusing non-loopback target %s", o_.host.c_str());

  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (o_.tls) init_tls();
  prepare_frames();
  conns_.resize(size_t(o_.conns));
  for (auto& c : conns_) c.ts.assign(size_t(o_.pipeline), 0);
  for (uint32_t i = uint32_t(o_.conns); i-- > 0;) free_.push_back(i);

  char extra[1024];
  if (o_.mode == "echo") {
    uint64_t t0 = now_ns();
    if (!setup_all()) {
      emit("\"error\":\"no connection could be opened\",");
      return 1;
    }
    double setup_s = double(now_ns() - t0) / 1e9;
    int opened = open_;
    sending_ = true;
    uint64_t now = now_ns();
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      if (c.st != St::Open) continue;
      for (int k = 0; k < o_.pipeline; ++k) enqueue(c, now);
      if (!flush(c)) {
        ++st_.closed_by_server;
        release(c, i);
      }
    }
    meas_start_ = now + (o_.messages > 0 ? 0 : uint64_t(o_.warmup * 1e9));
    meas_end_ = meas_start_ + uint64_t(o_.duration * 1e9);
    measuring_ = true;
    double srv0 = -1, cli0 = 0;
    MachineSample m0, m1;
    bool sampled = false;
    while ((now = now_ns()) < meas_end_) {
      if (!sampled && now >= meas_start_) {
        srv0 = read_proc_cpu_s(o_.server_pid);
        cli0 = self_cpu_s();
        m0.take();
        sampled = true;
      }
      poll_once(5);
      if (open_ == 0) break;
      if (o_.messages > 0 && st_.echoes >= o_.messages) break;
    }
    double srv1 = read_proc_cpu_s(o_.server_pid), cli1 = self_cpu_s();
    m1.take();
    uint64_t t_end = std::min(now_ns(), meas_end_);
    double secs = t_end > meas_start_ ? double(t_end - meas_start_) / 1e9 : 1e-9;
    sending_ = false;
    measuring_ = false;
    // Drain outstanding echoes briefly, then close politely.
    uint64_t drain_end = now_ns() + 2000000000ull;
    auto inflight = [&] {
      for (auto& c : conns_)
        if (c.st == St::Open && c.ts_count) return true;
      return false;
    };
    while (inflight() && now_ns() < drain_end) poll_once(5);
    close_all(2.0);
    std::snprintf(extra, sizeof extra,
                  "\"duration_s\":%.3f,\"warmup_s\":%.3f,\"setup_s\":%.3f,\"open_conns\":%d,"
                  "\"msgs\":%" PRIu64 ",\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,"
                  "\"lat_p50_us\":%.1f,\"lat_p90_us\":%.1f,\"lat_p99_us\":%.1f,"
                  "\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,"
                  "\"server_cpu\":%.3f,\"client_cpu\":%.3f,\"other_cpu\":%.3f,"
                  "\"softirq_cpu\":%.3f,",
                  secs, o_.warmup, setup_s, opened, st_.msgs, double(st_.msgs) / secs,
                  double(st_.bytes) / secs / 1e6, st_.lat.pct(50) / 1e3, st_.lat.pct(90) / 1e3,
                  st_.lat.pct(99) / 1e3, st_.lat.pct(99.9) / 1e3, double(st_.lat.max_v) / 1e3,
                  srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / secs : -1.0, (cli1 - cli0) / secs,
                  other_cpu(m0, m1, srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / secs : -1.0,
                            (cli1 - cli0) / secs, secs),
                  softirq_cpu(m0, m1, secs));
    emit(extra);
    return st_.msgs > 0 ? 0 : 1;
  }

  if (o_.mode == "handshake") {
    keep_cycling_ = true;
    uint64_t t0 = now_ns();
    uint64_t end = t0 + uint64_t(o_.duration * 1e9);
    double srv0 = read_proc_cpu_s(o_.server_pid), cli0 = self_cpu_s();
    MachineSample m0, m1;
    m0.take();
    // Keep `conns` cycles in flight; completed cycles restart themselves.
    for (int i = 0; i < o_.conns; ++i) {
      uint32_t idx = free_.back();
      free_.pop_back();
      start_conn(idx);
    }
    uint64_t now, next_reap = t0 + 100000000ull;
    while ((now = now_ns()) < end) {
      if (now >= next_reap) {
        reap_stuck(now, 3000000000ull);
        next_reap = now + 100000000ull;
      }
      // Refill slots lost to errors.
      while (!free_.empty() && keep_cycling_) {
        uint32_t idx = free_.back();
        free_.pop_back();
        if (!start_conn(idx)) break;
      }
      poll_once(5);
    }
    keep_cycling_ = false;
    double secs = double(now_ns() - t0) / 1e9;
    double srv1 = read_proc_cpu_s(o_.server_pid), cli1 = self_cpu_s();
    m1.take();
    uint64_t done = st_.handshakes;
    // Let cycles in progress finish (they close themselves) so the server
    // sees clean closes, then force whatever is left.
    uint64_t finish_end = now_ns() + 3000000000ull;
    while (now_ns() < finish_end &&
           std::any_of(conns_.begin(), conns_.end(), [](const Conn& c) { return c.st != St::Free; }))
      poll_once(5);
    close_all(1.0);
    std::snprintf(extra, sizeof extra,
                  "\"duration_s\":%.3f,\"handshakes\":%" PRIu64 ",\"handshakes_per_s\":%.1f,"
                  "\"server_cpu\":%.3f,\"client_cpu\":%.3f,\"other_cpu\":%.3f,"
                  "\"softirq_cpu\":%.3f,",
                  secs, done, double(done) / secs,
                  srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / secs : -1.0, (cli1 - cli0) / secs,
                  other_cpu(m0, m1, srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / secs : -1.0,
                            (cli1 - cli0) / secs, secs),
                  softirq_cpu(m0, m1, secs));
    emit(extra);
    return done > 0 ? 0 : 1;
  }

  // idle
  long rss0 = read_vmrss_kb(o_.server_pid);
  uint64_t t0 = now_ns();
  setup_all();
  double setup_s = double(now_ns() - t0) / 1e9;
  int opened = open_;
  uint64_t idle_acked = 0;
  if (o_.idle_msgs > 0) {
    // Exchange messages so the server allocates its per-connection state for
    // them (e.g. zlib streams), then wait for every echo (bounded).
    uint64_t now = now_ns();
    for (uint32_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      if (c.st != St::Open) continue;
      for (int k = 0; k < o_.idle_msgs && k < o_.pipeline; ++k) enqueue(c, now);
      if (!flush(c)) {
        ++st_.closed_by_server;
        release(c, i);
      }
    }
    uint64_t wait_end = now_ns() + uint64_t(o_.setup_timeout * 1e9);
    auto waiting = [&] {
      for (auto& c : conns_)
        if (c.st == St::Open && c.ts_count) return true;
      return false;
    };
    while (waiting() && now_ns() < wait_end) poll_once(10);
    idle_acked = st_.echoes;
  }
  uint64_t settle_end = now_ns() + uint64_t(o_.settle * 1e9);
  while (now_ns() < settle_end) poll_once(10);
  long rss1 = read_vmrss_kb(o_.server_pid);
  uint64_t hold_end = now_ns() + uint64_t(o_.duration * 1e9);
  while (now_ns() < hold_end) poll_once(10);
  long rss2 = read_vmrss_kb(o_.server_pid);
  int still_open = open_;
  close_all(5.0);
  double per_conn = (rss0 >= 0 && rss2 >= 0 && opened > 0)
                        ? double(std::max(rss1, rss2) - rss0) * 1024.0 / opened
                        : -1.0;
  std::snprintf(extra, sizeof extra,
                "\"setup_s\":%.3f,\"open_conns\":%d,\"still_open\":%d,\"connects_per_s\":%.1f,"
                "\"rss_before_kb\":%ld,\"rss_open_kb\":%ld,\"rss_held_kb\":%ld,"
                "\"bytes_per_conn\":%.1f,\"idle_msgs\":%d,\"idle_echoes\":%" PRIu64 ",",
                setup_s, opened, still_open, setup_s > 0 ? opened / setup_s : 0.0, rss0, rss1, rss2,
                per_conn, o_.idle_msgs, idle_acked);
  emit(extra);
  if (o_.idle_msgs > 0 && idle_acked < uint64_t(opened) * uint64_t(o_.idle_msgs)) return 1;
  return opened == o_.conns ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  LoadGen g(std::move(o));
  return g.run();
}
