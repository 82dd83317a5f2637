// What few sessions use, kept behind one pointer (Session::extras()) so that an idle
// connection does not carry it: the application's data, the subprotocol, the handle state, and
// the relay that makes the session the Connection's frame observer.
#pragma once

#include <any>
#include <memory>
#include <string>

#include "session/handle_state.hpp"
#include "session/session.hpp"

namespace wsx::session {

struct Session::Extras {
  // The route's frame observer or frame handler sees the Connection's frames through this.
  struct FrameRelay final : proto::FrameObserver {
    explicit FrameRelay(Session& owner) : session_(owner) {}
    void on_frame(bool outgoing, const proto::FrameHeader& header,
                  std::span<const std::uint8_t> payload) override {
      session_.on_frame(outgoing, header, payload);
    }
    Session& session_;
  };

  explicit Extras(Session& session) : frame_relay(session) {}

  std::any user_data;
  std::string subprotocol;
  std::shared_ptr<detail::HandleState> handle_state;  // created on the first handle()
  FrameRelay frame_relay;
};

}  // namespace wsx::session
