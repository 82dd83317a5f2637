// Uses a layer above the core, to prove the check catches it.
#include "wsx/io/event_loop.hpp"
