// What a WebSocketHandle shares with its connection: the loop to post to and, on that loop's
// thread only, the connection while it exists.
#pragma once

#include "session/layer_export.hpp"
#include "wsx/io/event_loop.hpp"
#include "wsx/websocket.hpp"

namespace wsx::detail {

struct WSX_LAYER_API HandleState {
  io::LoopHandle loop;
  WebSocket* connection = nullptr;  // read and cleared on the loop thread only
};

}  // namespace wsx::detail
