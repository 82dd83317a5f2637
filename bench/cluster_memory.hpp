// cluster_publish --memory: what a subscription costs a node, measured as the resident memory
// (VmRSS) of a separate node process while clients connect to it. See cluster_memory.cpp.
#pragma once

#include <string>

namespace bench {

// The hidden argument that makes cluster_publish a node process for the memory measurement.
inline constexpr const char* memory_node_flag = "--memory-node";

// Parent: measures `connections` connections in each scenario, `runs` times, locally and (with
// a URL) with the node on Redis. Prints each run and the medians. 0 on success.
int run_memory(int connections, const std::string& redis, int runs);
// Child: serves /plain (echo, no topic) and /t/NAME (subscribes to NAME; a message is published
// to it) on a free loopback port, prints the port on stdout, serves until killed.
int run_memory_node(const std::string& redis);  // "-": local topics

}  // namespace bench
