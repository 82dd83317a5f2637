// A file that breaks the layer rule, to prove the check can fail.
#include <chrono>
