// WSX_LAYER_API marks what the session layer offers to the server and client layers above it
// but not to programs: these headers are not installed. A shared build (BUILD_SHARED_LIBS=ON)
// has one library per layer, so libwsx_server and libwsx_client must see these symbols.
#pragma once

#include "wsx/export.hpp"

#define WSX_LAYER_API WSX_API
