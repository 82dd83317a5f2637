#!/usr/bin/env bash
# Fails if any C++ file under the given directories includes a socket, thread or clock header,
# or a header of a layer above the core (wsx/io, session, server, client): the protocol core is
# sans-I/O (DESIGN.md, layer proto).
set -euo pipefail
forbidden='sys/socket\.h|netinet/|arpa/inet\.h|netdb\.h|sys/epoll\.h|poll\.h|sys/select\.h|unistd\.h|fcntl\.h|thread|mutex|shared_mutex|condition_variable|future|semaphore|latch|barrier|stop_token|pthread\.h|chrono|ctime|time\.h|sys/time\.h|openssl/ssl\.h|asio|wsx/io/.*|wsx/session.*|wsx/server.*|wsx/client.*|wsx/websocket\.hpp'
status=0
for dir in "$@"; do
  while IFS= read -r -d '' file; do
    if hits=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($forbidden)[>\"]" "$file"); then
      echo "$file includes a forbidden header:"; echo "$hits"; status=1
    fi
  done < <(find "$dir" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -print0)
done
[ $status -eq 0 ] && echo "no socket, thread or clock header in: $*"
exit $status
