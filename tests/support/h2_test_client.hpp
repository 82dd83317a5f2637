// An independent HTTP/2 peer for tests: nghttp2's client session, in memory. It records what
// the server sends (settings, responses, DATA, resets, GOAWAY); the test moves bytes between it
// and the server under test (or a socket).
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace wsx::testing {

class H2TestClient {
 public:
  struct Response {
    std::vector<std::pair<std::string, std::string>> headers;
    std::string data;
    bool ended = false;                   // END_STREAM received
    std::optional<std::uint32_t> closed;  // the stream's close code once closed
    std::optional<std::string> header(std::string_view name) const {
      for (const auto& [n, v] : headers) {
        if (n == name) return v;
      }
      return std::nullopt;
    }
  };

  // How the client reopens the server's windows: automatically as DATA arrives, or, with
  // `stream_windows`, the connection's as DATA arrives and each stream's only by
  // consume_stream() (a client that stops reading some streams and not others).
  enum class Windows { automatic, stream_windows };

  explicit H2TestClient(nghttp2_option* option = nullptr, Windows windows = Windows::automatic)
      : windows_(windows) {
    nghttp2_option* own = nullptr;
    if (windows == Windows::stream_windows && option == nullptr) {
      nghttp2_option_new(&own);
      nghttp2_option_set_no_auto_window_update(own, 1);
      option = own;
    }
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
    const int rv = nghttp2_session_client_new2(&session_, callbacks, this, option);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_option_del(own);
    if (rv != 0) throw std::runtime_error("nghttp2_session_client_new2 failed");
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2TestClient() { nghttp2_session_del(session_); }
  H2TestClient(const H2TestClient&) = delete;
  H2TestClient& operator=(const H2TestClient&) = delete;

  nghttp2_session* session() const { return session_; }

  // Windows::stream_windows: `n` more bytes of the stream's DATA were read (WINDOW_UPDATE).
  void consume_stream(std::int32_t id, std::size_t n) {
    if (n > 0) nghttp2_session_consume_stream(session_, id, n);
  }
  // What the client may still send on `id` now (its stream window and the connection's).
  std::int32_t send_window(std::int32_t id) const {
    return std::min(nghttp2_session_get_stream_remote_window_size(session_, id),
                    nghttp2_session_get_remote_window_size(session_));
  }

  // Submits a request; `fields` includes the pseudo-headers. With `body`, it is sent as DATA
  // (END_STREAM after it unless `keep_open`).
  std::int32_t request(const std::vector<std::pair<std::string, std::string>>& fields,
                       std::optional<std::string> body = std::nullopt, bool keep_open = false) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                     value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    if (!body && !keep_open) {
      return nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), nullptr, nullptr);
    }
    auto upload = std::make_unique<Upload>();
    upload->body = body.value_or("");
    upload->keep_open = keep_open;
    nghttp2_data_provider provider{};
    provider.source.ptr = upload.get();
    provider.read_callback = read_upload;
    const std::int32_t id =
        nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &provider, nullptr);
    uploads_[id] = std::move(upload);
    return id;
  }
  // More bytes for a keep_open upload (resumes it).
  void send_more(std::int32_t id, std::string_view bytes, bool end = false) {
    Upload& upload = *uploads_.at(id);
    upload.body.append(bytes);
    upload.keep_open = !end;
    nghttp2_session_resume_data(session_, id);
  }

  // Every byte the client wants to send now.
  std::string take_output() {
    std::string out;
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    return out;
  }
  // Bytes from the server; false when nghttp2 refused them.
  bool feed(std::span<const std::uint8_t> bytes) {
    return nghttp2_session_mem_recv(session_, bytes.data(), bytes.size()) ==
           static_cast<ssize_t>(bytes.size());
  }
  bool feed(std::string_view bytes) {
    return feed({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }

  std::uint32_t remote_setting(nghttp2_settings_id id) const {
    return nghttp2_session_get_remote_settings(session_, id);
  }

  std::map<std::int32_t, Response> responses;
  std::optional<std::uint32_t> goaway_code;
  std::int32_t goaway_last_stream = -1;
  // How much DATA each stream had received when the (first) GOAWAY came: what came before it.
  std::map<std::int32_t, std::size_t> data_at_goaway;

 private:
  struct Upload {
    std::string body;
    std::size_t sent = 0;
    bool keep_open = false;
  };

  static H2TestClient& self(void* user_data) { return *static_cast<H2TestClient*>(user_data); }

  static ssize_t read_upload(nghttp2_session*, std::int32_t, std::uint8_t* buffer,
                             std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                             void*) {
    Upload& upload = *static_cast<Upload*>(source->ptr);
    const std::size_t n = std::min(length, upload.body.size() - upload.sent);
    std::copy_n(upload.body.data() + upload.sent, n, buffer);
    upload.sent += n;
    if (upload.sent == upload.body.size()) {
      if (upload.keep_open) {
        if (n == 0) return NGHTTP2_ERR_DEFERRED;
      } else {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      }
    }
    return static_cast<ssize_t>(n);
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t name_size, const std::uint8_t* value, std::size_t value_size,
                       std::uint8_t, void* user_data) {
    self(user_data).responses[frame->hd.stream_id].headers.emplace_back(
        std::string(reinterpret_cast<const char*>(name), name_size),
        std::string(reinterpret_cast<const char*>(value), value_size));
    return 0;
  }
  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                     std::size_t size, void* user_data) {
    H2TestClient& client = self(user_data);
    client.responses[id].data.append(reinterpret_cast<const char*>(data), size);
    if (client.windows_ == Windows::stream_windows) {
      nghttp2_session_consume_connection(client.session_, size);
    }
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2TestClient& client = self(user_data);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      if (!client.goaway_code) {
        for (const auto& [id, response] : client.responses) {
          client.data_at_goaway[id] = response.data.size();
        }
      }
      client.goaway_code = frame->goaway.error_code;
      client.goaway_last_stream = frame->goaway.last_stream_id;
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
        (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS)) {
      client.responses[frame->hd.stream_id].ended = true;
    }
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user_data) {
    self(user_data).responses[id].closed = code;
    return 0;
  }

  nghttp2_session* session_ = nullptr;
  Windows windows_ = Windows::automatic;
  std::map<std::int32_t, std::unique_ptr<Upload>> uploads_;
};

}  // namespace wsx::testing
