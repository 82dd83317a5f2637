// WSX_API marks the public API: the classes and functions a program may call. The libraries are
// compiled with hidden visibility, so in a shared build (BUILD_SHARED_LIBS=ON) only what carries
// this mark is exported; everything else stays private to the library. A public function
// without it links against the static library but not against the shared one, which the
// export check (tests/export) reports.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define WSX_API __attribute__((visibility("default")))
#else
#define WSX_API
#endif
