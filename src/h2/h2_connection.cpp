#include "h2/h2_connection.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <utility>
#include <vector>

namespace wsx::h2 {

struct H2Connection::Stream {
  std::int32_t id = 0;
  // The header block as it arrives, then (request complete) the names and values the
  // request's views point into, one after the other in `storage`.
  std::vector<std::pair<std::string, std::string>> fields;
  std::size_t header_bytes = 0;
  bool too_large = false;
  bool delivered = false;        // on_request was called: the handler owns the stream's events
  bool ours = false;             // opened by submit_request (client): the handler knows it
  bool remote_ended = false;     // the peer sent END_STREAM
  bool reset_submitted = false;  // reset(): our RST_STREAM is queued
  std::string storage;
  H2Request request;
  H2Response response;  // client
  // The answer's body: a string (respond) or a source (respond_streaming).
  std::string body;
  std::size_t body_sent = 0;
  H2Source* source = nullptr;
};

namespace {

constexpr std::size_t field_overhead = 32;  // RFC 9113 §6.5.2

std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<std::uint8_t*>(const_cast<char*>(s.data()));
}

nghttp2_nv field(const std::string& name, const std::string& value) {
  return {bytes(name), bytes(value), name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

bool is_tchar(unsigned char c) {
  return std::isalnum(c) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// RFC 9113 §8.2.2: fields that only mean something on one HTTP/1.1 connection.
bool is_connection_specific(std::string_view name) {
  static constexpr std::array<std::string_view, 6> names = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"};
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The application's header as HTTP/2 may carry it (name in lower case), or nothing: a name that
// is not a token, a value with CR, LF or NUL (RFC 9113 §8.2.1), a connection-specific field, or
// one we write ourselves.
std::optional<std::pair<std::string, std::string>> h2_field(std::string_view name,
                                                            std::string_view value) {
  if (name.empty()) return std::nullopt;
  std::string lower(name.size(), '\0');
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (!is_tchar(c)) return std::nullopt;
    lower[i] = static_cast<char>(std::tolower(c));
  }
  if (is_connection_specific(lower) || lower == "content-length") return std::nullopt;
  for (const char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return std::nullopt;
  }
  // Leading or trailing whitespace makes a field malformed for a strict peer (RFC 9113 §8.2.1).
  const std::size_t first = value.find_first_not_of(" \t");
  if (first == std::string_view::npos) return std::pair{std::move(lower), std::string()};
  const std::size_t last = value.find_last_not_of(" \t");
  return std::pair{std::move(lower), std::string(value.substr(first, last - first + 1))};
}

int valid_status(int status) {
  return status >= 200 && status <= 599 ? status : 500;
}

}  // namespace

// nghttp2's C callbacks, each a thin step into the connection (its user data).
struct H2Connection::Callbacks {
  static H2Connection& self(void* user_data) { return *static_cast<H2Connection*>(user_data); }

  static Stream* find(H2Connection& connection, std::int32_t id) {
    return static_cast<Stream*>(nghttp2_session_get_stream_user_data(connection.session_, id));
  }

  // The header block a handler hears of: a request (server), a response (client).
  static bool is_head(const H2Connection& connection, const nghttp2_frame* frame) {
    if (frame->hd.type != NGHTTP2_HEADERS) return false;
    return frame->headers.cat ==
           (connection.role_ == H2Role::server ? NGHTTP2_HCAT_REQUEST : NGHTTP2_HCAT_RESPONSE);
  }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                              void* user_data) {
    H2Connection& connection = self(user_data);
    if (!is_head(connection, frame)) return 0;
    if (connection.role_ == H2Role::client) return 0;  // the stream is ours, made at submit
    auto stream = std::make_unique<Stream>();
    stream->id = frame->hd.stream_id;
    if (nghttp2_session_set_stream_user_data(session, stream->id, stream.get()) != 0) {
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    connection.streams_.emplace(stream->id, std::move(stream));
    ++connection.open_streams_;
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_size, const std::uint8_t* value, std::size_t value_size,
                       std::uint8_t, void* user_data) {
    H2Connection& connection = self(user_data);
    if (!is_head(connection, frame)) return 0;  // trailers: not used
    Stream* stream = find(connection, frame->hd.stream_id);
    if (stream == nullptr || stream->too_large) return 0;
    stream->header_bytes += name_size + value_size + field_overhead;
    if (stream->header_bytes > connection.limits_.max_header_list_size ||
        stream->fields.size() >= connection.limits_.max_headers) {
      // Answered 431 once the block is complete; what follows is decoded (HPACK's table must
      // stay in step) but not kept.
      stream->too_large = true;
      stream->fields.clear();
      stream->fields.shrink_to_fit();
      return 0;
    }
    stream->fields.emplace_back(std::string(reinterpret_cast<const char*>(name), name_size),
                                std::string(reinterpret_cast<const char*>(value), value_size));
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Connection& connection = self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      connection.goaway_received_ = true;
      connection.handler_.on_goaway(frame->goaway.last_stream_id, frame->goaway.error_code);
      return 0;
    }
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
      connection.settings_received_ = true;
      connection.handler_.on_settings();
      connection.handler_.on_send_window_update();
      return 0;
    }
    if (frame->hd.type == NGHTTP2_WINDOW_UPDATE) {
      connection.handler_.on_send_window_update();
      return 0;
    }
    if (frame->hd.stream_id == 0) return 0;
    Stream* stream = find(connection, frame->hd.stream_id);
    if (stream == nullptr) return 0;
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (is_head(connection, frame)) {
      stream->remote_ended = end_stream;
      connection.deliver(*stream, end_stream);
      return 0;
    }
    if (end_stream && (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS)) {
      stream->remote_ended = true;
      if (stream->delivered) connection.handler_.on_remote_end(stream->id);
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                           const std::uint8_t* data, std::size_t size, void* user_data) {
    H2Connection& connection = self(user_data);
    Stream* stream = find(connection, stream_id);
    if (stream == nullptr || !stream->delivered) {
      nghttp2_session_consume(session, stream_id, size);  // nobody reads it: reopen at once
      return 0;
    }
    connection.handler_.on_data(stream_id, {data, size});
    return 0;
  }

  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    // RFC 9113 §8.1: a complete response before the whole request lets the server ask the
    // client to stop sending, without error.
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (self(user_data).role_ == H2Role::client) return 0;  // the server's right only
    Stream* stream = find(self(user_data), frame->hd.stream_id);
    if (stream != nullptr && !stream->remote_ended) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error,
                             void* user_data) {
    H2Connection& connection = self(user_data);
    const auto it = connection.streams_.find(stream_id);
    if (it == connection.streams_.end()) return 0;
    std::unique_ptr<Stream> stream = std::move(it->second);
    connection.streams_.erase(it);
    nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
    --connection.open_streams_;
    if (stream->delivered || stream->ours) connection.handler_.on_stream_closed(stream_id, error);
    return 0;
  }

  // A request whose HEADERS nghttp2 would not send (client): a GOAWAY came between
  // submit_request() and the send, so the stream never opened and no close callback would
  // follow. It closes here as refused: nothing of it was processed, it may be sent again
  // elsewhere (RFC 9113 §8.7). (A stream that did open is closed by nghttp2 itself.)
  static int on_frame_not_send(nghttp2_session* session, const nghttp2_frame* frame, int,
                               void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || self(user_data).role_ != H2Role::client) return 0;
    return on_stream_close(session, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM, user_data);
  }

  // nghttp2's reason for a connection or stream error it handles itself (kept for logs).
  static int on_error(nghttp2_session*, int, const char* message, std::size_t size,
                      void* user_data) {
    H2Connection& connection = self(user_data);
    connection.last_peer_error_.assign(message, size);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    Stream& stream = *static_cast<Stream*>(source->ptr);
    if (stream.source != nullptr) {
      const H2Source::Chunk chunk = stream.source->read({buffer, length});
      if (stream.reset_submitted) {
        // The read reset the stream (a WebSocket whose drain callback terminated it: its
        // session, and the source with it, is gone). nghttp2's rule for a data-read callback
        // that submitted RST_STREAM: return TEMPORAL_CALLBACK_FAILURE, not a size. The DATA of
        // this read is not sent and our RST_STREAM goes out with its code (nghttp2 adds none of
        // its own to a stream that has one queued).
        stream.source = nullptr;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      if (chunk.end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        stream.source = nullptr;
      } else if (chunk.size == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
      return static_cast<ssize_t>(chunk.size);
    }
    const std::size_t n = std::min(length, stream.body.size() - stream.body_sent);
    std::copy_n(stream.body.data() + stream.body_sent, n, buffer);
    stream.body_sent += n;
    if (stream.body_sent == stream.body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

void H2Connection::deliver(Stream& stream, bool end_stream) {
  if (role_ == H2Role::client) {
    deliver_response(stream, end_stream);
    return;
  }
  if (stream.too_large) {
    proto::HttpResponse response;
    response.status = 431;
    response.body = "request header fields too large\n";
    response.headers.emplace_back("content-type", proto::plain_text_content_type);
    respond(stream.id, response);
    return;
  }
  H2Request& request = stream.request;
  request.stream_id = stream.id;
  request.end_stream = end_stream;
  proto::HttpHead& head = request.head;
  head.version_major = 2;
  head.version_minor = 0;
  // One buffer for every name and value: cookie fields joined (RFC 9113 §8.2.3), :authority
  // as host.
  std::size_t total = 0;
  for (const auto& [name, value] : stream.fields) total += name.size() + value.size() + 2;
  stream.storage.reserve(total + 16);
  auto keep = [&](std::string_view text) {
    const std::size_t at = stream.storage.size();
    stream.storage.append(text);
    return std::string_view(stream.storage).substr(at, text.size());
  };
  std::string cookies;
  std::string_view authority;
  // reserve() above makes every view into storage stable: nothing appended reallocates it.
  for (const auto& [name, value] : stream.fields) {
    if (name == ":method") {
      head.method = keep(value);
    } else if (name == ":path") {
      head.target = keep(value);
    } else if (name == ":scheme") {
      request.scheme = keep(value);
    } else if (name == ":protocol") {
      head.protocol = keep(value);
    } else if (name == ":authority") {
      authority = keep(value);
    } else if (name == "cookie") {
      if (!cookies.empty()) cookies += "; ";
      cookies += value;
    } else if (name == "host" && !authority.empty() && value == authority) {
      continue;  // the same as :authority (pseudo-headers come first, RFC 9113 §8.3)
    } else {
      head.headers.push_back({keep(name), keep(value)});
    }
  }
  // §8.3.1: a host field that disagrees with :authority makes the request malformed; both are
  // kept, which the handshake's check sees as a repeated Host (400).
  if (!authority.empty()) {
    head.headers.insert(head.headers.begin(), proto::HttpHeader{"host", authority});
  }
  // The joined cookies fit in what was reserved (each value counted with 2 bytes to spare).
  if (!cookies.empty()) head.headers.push_back({"cookie", keep(cookies)});
  stream.fields.clear();
  stream.fields.shrink_to_fit();
  stream.delivered = true;
  handler_.on_request(request);
}

void H2Connection::deliver_response(Stream& stream, bool end_stream) {
  if (stream.too_large) {  // a response we will not keep: the stream goes
    stream.fields.clear();
    reset(stream.id, H2Error::refused_stream);
    return;
  }
  H2Response& response = stream.response;
  response.stream_id = stream.id;
  response.end_stream = end_stream;
  proto::HttpHead& head = response.head;
  head.version_major = 2;
  head.version_minor = 0;
  std::size_t total = 0;
  for (const auto& [name, value] : stream.fields) total += name.size() + value.size();
  stream.storage.reserve(total);  // every view below stays valid: nothing reallocates
  auto keep = [&](std::string_view text) {
    const std::size_t at = stream.storage.size();
    stream.storage.append(text);
    return std::string_view(stream.storage).substr(at, text.size());
  };
  for (const auto& [name, value] : stream.fields) {
    if (name == ":status") {
      int status = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), status);
      head.status = error == std::errc{} && end == value.data() + value.size() ? status : 0;
    } else if (!name.empty() && name.front() != ':') {
      head.headers.push_back({keep(name), keep(value)});
    }
  }
  stream.fields.clear();
  stream.fields.shrink_to_fit();
  stream.delivered = true;
  handler_.on_response(response);
}

H2Connection::H2Connection(H2Handler& handler, const H2Limits& limits, H2Role role)
    : handler_(handler), limits_(limits), role_(role) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    failed_ = true;
    error_ = "out of memory";
    return;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, Callbacks::on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, Callbacks::on_frame_not_send);
  nghttp2_session_callbacks_set_error_callback2(callbacks, Callbacks::on_error);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_option_set_max_continuations(option, limits_.max_continuations);
  nghttp2_option_set_stream_reset_rate_limit(option, limits_.reset_burst,
                                             limits_.resets_per_second);
  nghttp2_option_set_max_outbound_ack(option, limits_.max_outbound_ack);
  nghttp2_option_set_max_settings(option, limits_.max_settings);
  const int created = role_ == H2Role::server
                          ? nghttp2_session_server_new2(&session_, callbacks, this, option)
                          : nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_option_del(option);
  if (created != 0) {
    session_ = nullptr;
    fail("nghttp2_session_server_new2", created);
    return;
  }
  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_size},
      // RFC 9218: no priority tree to keep per stream.
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (role_ == H2Role::server) {
    settings.insert(settings.begin(),
                    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams});
  } else {
    settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});  // a WebSocket client wants no push
  }
  if (role_ == H2Role::server && limits_.enable_connect_protocol) {
    settings.push_back({NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1});
  }
  int rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (rv == 0 && limits_.connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    rv = nghttp2_session_set_local_window_size(
        session_, NGHTTP2_FLAG_NONE, 0, static_cast<std::int32_t>(limits_.connection_window));
  }
  if (rv != 0) fail("nghttp2_submit_settings", rv);
}

H2Connection::~H2Connection() {
  nghttp2_session_del(session_);
}

void H2Connection::fail(const char* what, int code) {
  failed_ = true;
  if (!error_.empty()) return;
  error_ = std::string(what) + ": " + nghttp2_strerror(code);
  if (!last_peer_error_.empty()) error_ += " (" + last_peer_error_ + ")";
}

bool H2Connection::receive(std::span<const std::uint8_t> data) {
  if (failed_) return false;
  const ssize_t taken = nghttp2_session_mem_recv(session_, data.data(), data.size());
  if (taken < 0) {
    // A connection error: nghttp2 queued its GOAWAY when it could (a flood is one: ENHANCE
    // YOUR CALM). Other codes mean a state we cannot go on from.
    fail("HTTP/2 connection error", static_cast<int>(taken));
    if (taken != NGHTTP2_ERR_FLOODED && taken != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    }
    return false;
  }
  return true;
}

std::span<const std::uint8_t> H2Connection::output() {
  if (out_offset_ < out_size_) return {out_data_ + out_offset_, out_size_ - out_offset_};
  if (session_ == nullptr) return {};
  const std::uint8_t* data = nullptr;
  producing_output_ = true;
  const ssize_t size = nghttp2_session_mem_send(session_, &data);
  producing_output_ = false;
  if (size < 0) {
    fail("nghttp2_session_mem_send", static_cast<int>(size));
    out_data_ = nullptr;
    out_size_ = out_offset_ = 0;
    return {};
  }
  out_data_ = data;
  out_size_ = static_cast<std::size_t>(size);
  out_offset_ = 0;
  return {out_data_, out_size_};
}

void H2Connection::consume_output(std::size_t n) {
  out_offset_ = std::min(out_offset_ + n, out_size_);
}

bool H2Connection::finished() const {
  if (session_ == nullptr) return true;
  if (out_offset_ < out_size_) return false;
  // After a connection error nothing more is read: done once its GOAWAY (if any) is out.
  if (failed_) return nghttp2_session_want_write(session_) == 0;
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void H2Connection::respond(std::int32_t stream_id, const proto::HttpResponse& response,
                           bool head_only) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Stream& stream = *it->second;
  const std::string status = std::to_string(valid_status(response.status));
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back(":status", status);
  for (const auto& [name, value] : response.headers) {
    if (auto f = h2_field(name, value)) fields.push_back(std::move(*f));
  }
  // RFC 9110 §6.4.1: 204 and 304 have no content.
  const bool has_content = response.status != 204 && response.status != 304;
  if (has_content) fields.emplace_back("content-length", std::to_string(response.body.size()));
  // As serialize() for HTTP/1.1: a body is never left to a browser's sniffing.
  const bool typed = std::any_of(fields.begin(), fields.end(),
                                 [](const auto& field) { return field.first == "content-type"; });
  if (has_content && !response.body.empty() && !typed) {
    fields.emplace_back("content-type", proto::plain_text_content_type);
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const auto& [name, value] : fields) nva.push_back(field(name, value));
  stream.body = head_only || !has_content ? std::string() : response.body;
  stream.body_sent = 0;
  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = &Callbacks::read_body;
  // Fails only for a stream already answered or out of memory: the stream stays as it was.
  nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(),
                          stream.body.empty() ? nullptr : &provider);
}

void H2Connection::respond_streaming(std::int32_t stream_id, int status,
                                     const proto::HeaderList& headers, H2Source& source) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Stream& stream = *it->second;
  const std::string status_text = std::to_string(valid_status(status));
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back(":status", status_text);
  for (const auto& [name, value] : headers) {
    if (auto f = h2_field(name, value)) fields.push_back(std::move(*f));
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const auto& [name, value] : fields) nva.push_back(field(name, value));
  stream.source = &source;
  nghttp2_data_provider provider{};
  provider.source.ptr = &stream;
  provider.read_callback = &Callbacks::read_body;
  if (nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(), &provider) != 0) {
    stream.source = nullptr;
  }
}

void H2Connection::resume(std::int32_t stream_id) {
  if (session_ != nullptr) nghttp2_session_resume_data(session_, stream_id);
}

void H2Connection::forget_source(std::int32_t stream_id) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second->source == nullptr) return;
  it->second->source = nullptr;
  it->second->body.clear();
  it->second->body_sent = 0;
  reset(stream_id, H2Error::cancel);
}

void H2Connection::consume(std::int32_t stream_id, std::size_t n) {
  if (session_ != nullptr && n > 0) nghttp2_session_consume(session_, stream_id, n);
}

void H2Connection::consume_connection(std::size_t n) {
  if (session_ != nullptr && n > 0) nghttp2_session_consume_connection(session_, n);
}

void H2Connection::consume_stream(std::int32_t stream_id, std::size_t n) {
  if (session_ != nullptr && n > 0) nghttp2_session_consume_stream(session_, stream_id, n);
}

void H2Connection::reset(std::int32_t stream_id, H2Error error) {
  if (session_ == nullptr) return;
  if (const auto it = streams_.find(stream_id); it != streams_.end()) {
    it->second->reset_submitted = true;
  }
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id,
                            static_cast<std::uint32_t>(error));
}

void H2Connection::shutdown() {
  if (session_ == nullptr) return;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void H2Connection::terminate(H2Error error) {
  if (session_ == nullptr) return;
  nghttp2_session_terminate_session(session_, static_cast<std::uint32_t>(error));
}

std::int32_t H2Connection::submit_request(const proto::HeaderList& fields, H2Source& source) {
  if (session_ == nullptr || failed_ || role_ != H2Role::client || goaway_received_) return -1;
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const auto& [name, value] : fields) nva.push_back(field(name, value));
  auto stream = std::make_unique<Stream>();
  stream->ours = true;
  stream->source = &source;
  nghttp2_data_provider provider{};
  provider.source.ptr = stream.get();
  provider.read_callback = &Callbacks::read_body;
  const std::int32_t id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &provider, stream.get());
  if (id < 0) return id;
  stream->id = id;
  streams_.emplace(id, std::move(stream));
  ++open_streams_;
  return id;
}

bool H2Connection::peer_allows_extended_connect() const {
  return session_ != nullptr && settings_received_ &&
         nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) ==
             1;
}

std::uint32_t H2Connection::peer_max_concurrent_streams() const {
  if (session_ == nullptr) return 0;
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

std::int32_t H2Connection::send_window(std::int32_t stream_id) const {
  if (session_ == nullptr) return 0;
  return std::min(nghttp2_session_get_stream_remote_window_size(session_, stream_id),
                  nghttp2_session_get_remote_window_size(session_));
}

}  // namespace wsx::h2
