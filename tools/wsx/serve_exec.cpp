#include "serve_exec.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "wsx/io/event_loop.hpp"
#include "wsx/proto/utf8.hpp"

extern char** environ;

namespace wsx::tool {
namespace {

constexpr std::size_t max_in_flight = 1024 * 1024;  // bytes posted to a connection, not yet sent
constexpr std::size_t read_size = 64 * 1024;

// One slot of --max-processes, from the upgrade until the process is reaped.
class Slot {
 public:
  explicit Slot(std::atomic<std::size_t>& running) : running_(running) {}
  ~Slot() { running_.fetch_sub(1); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  std::atomic<std::size_t>& running_;
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

void write_stderr(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line: threads don't mix
}

}  // namespace

struct ExecSupervisor::Impl : std::enable_shared_from_this<ExecSupervisor::Impl> {
  struct Child;

  // One registered pipe or pidfd of a child.
  struct Watch final : io::IoHandler {
    enum Kind : std::uint8_t { out, err, in, exit };
    Impl* impl = nullptr;
    Child* child = nullptr;
    Kind kind = out;
    void on_readable() override { impl->ready(*child, kind); }
    void on_writable() override { impl->ready(*child, kind); }
    void on_error() override { impl->ready(*child, kind); }
  };

  struct Child {
    std::uint64_t id = 0;
    pid_t pid = -1;
    int pidfd = -1, out_fd = -1, err_fd = -1, in_fd = -1;
    Watch out_watch, err_watch, in_watch, exit_watch;
    WebSocketHandle ws;
    std::shared_ptr<ExecTicket> ticket;  // its fields: the connection's thread only
    std::string label;                   // "[PID REMOTE]"
    std::string out_line, err_line, in_buffer;
    std::size_t in_flight = 0;  // posted to the connection, not yet acknowledged
    bool out_paused = false;
    bool exited = false;
    int status = 0;
    bool gone = false;  // the connection closed: nothing more is sent to it
    io::TimerId kill_timer = 0;
    std::shared_ptr<void> slot;
  };

  const ExecSettings& settings;
  io::EventLoop loop;
  std::thread thread;
  std::atomic<std::size_t> running{0};
  std::atomic<std::uint64_t> next_id{1};
  std::unordered_map<std::uint64_t, std::unique_ptr<Child>> children;
  bool shutting_down = false;

  explicit Impl(const ExecSettings& s) : settings(s) {}

  void start_thread() {
    thread = std::thread([this] { loop.run(); });
  }

  std::shared_ptr<void> reserve() {
    if (running.fetch_add(1) >= settings.max_processes) {
      running.fetch_sub(1);
      return nullptr;
    }
    return std::make_shared<Slot>(running);
  }

  // ---- on the supervisor thread ----

  void spawn(std::uint64_t id, WebSocketHandle ws, std::shared_ptr<ExecTicket> ticket,
             std::string remote, std::vector<std::string> environment, std::shared_ptr<void> slot) {
    auto child = std::make_unique<Child>();
    child->id = id;
    child->ws = std::move(ws);
    child->ticket = std::move(ticket);
    child->slot = std::move(slot);
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    // O_CLOEXEC on every end: the child gets exactly fds 0, 1, 2 (dup2 clears the flag), and no
    // other child inherits this one's pipes.
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        ::pipe2(err, O_CLOEXEC) != 0) {
      const int error = errno;
      for (int* fd : {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1]}) close_fd(*fd);
      fail_start(*child, remote, error);
      return;
    }
    std::vector<char*> argv;
    for (const std::string& word : settings.argv) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (std::string& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    // Its own process group (killed as a whole, and the terminal's Ctrl-C reaches only wsx),
    // no blocked signals (serve blocks SIGINT/SIGTERM) and default dispositions (wsx ignores
    // SIGPIPE).
    posix_spawnattr_setflags(
        &attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    pid_t pid = -1;
    const int error = posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close_fd(in[0]);
    close_fd(out[1]);
    close_fd(err[1]);
    if (error != 0) {
      for (int* fd : {&in[1], &out[0], &err[0]}) close_fd(*fd);
      fail_start(*child, remote, error);
      return;
    }
    child->pid = pid;
    child->label = "[" + std::to_string(pid) + " " + remote + "]";
    child->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (child->pidfd < 0) {  // kernel before 5.3: no safe way to wait without blocking
      const int pidfd_error = errno;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      for (int* fd : {&in[1], &out[0], &err[0]}) close_fd(*fd);
      fail_start(*child, remote, pidfd_error);
      return;
    }
    ::fcntl(child->pidfd, F_SETFD, FD_CLOEXEC);
    child->in_fd = in[1];
    child->out_fd = out[0];
    child->err_fd = err[0];
    for (int fd : {child->in_fd, child->out_fd, child->err_fd}) set_nonblocking(fd);
    Child& c = *child;
    for (auto [watch, kind] : {std::pair{&c.out_watch, Watch::out},
                               {&c.err_watch, Watch::err},
                               {&c.in_watch, Watch::in},
                               {&c.exit_watch, Watch::exit}}) {
      watch->impl = this;
      watch->child = &c;
      watch->kind = kind;
    }
    if (const std::error_code watch_error = watch(c)) {
      // Unwatched, nobody would read the process's output nor see it exit, and the connection
      // would wait forever: the process is ended now and the connection told why.
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      for (int* fd : {&c.out_fd, &c.err_fd, &c.in_fd, &c.pidfd}) stop_watch(*fd);
      fail_connection(
          c, remote,
          "cannot watch the pipes of " + settings.argv.front() + ": " + watch_error.message());
      return;
    }
    if (!settings.quiet) write_stderr("wsx serve: " + c.label + " started\n");
    children.emplace(id, std::move(child));
    if (shutting_down) connection_gone(id);
  }

  // The registration of a process's pipes and pidfd in the loop; it fails where epoll does
  // (ENOSPC beyond fs.epoll.max_user_watches, ENOMEM), or where a test says so.
  std::error_code watch(Child& c) {
    if (settings.fail_watch_for_test) return settings.fail_watch_for_test;
    for (auto [fd, interest, handler] : {std::tuple{c.out_fd, io::Interest::read, &c.out_watch},
                                         {c.err_fd, io::Interest::read, &c.err_watch},
                                         {c.in_fd, io::Interest::none, &c.in_watch},
                                         {c.pidfd, io::Interest::read, &c.exit_watch}}) {
      if (const std::error_code error = loop.add(fd, interest, *handler)) return error;
    }
    return {};
  }

  void fail_start(Child& child, const std::string& remote, int error) {
    fail_connection(child, remote,
                    "cannot run " + settings.argv.front() + ": " + std::strerror(error));
  }

  void fail_connection(Child& child, const std::string& remote, const std::string& reason) {
    write_stderr("wsx serve: [" + remote + "] " + reason + "\n");
    // A close reason is at most 123 bytes.
    child.ws.close(1011, reason.size() > 123 ? reason.substr(0, 123) : reason);
  }

  void ready(Child& child, Watch::Kind kind) {
    switch (kind) {
      case Watch::out:
        read_stdout(child);
        break;
      case Watch::err:
        read_stderr(child, false);
        break;
      case Watch::in:
        write_stdin(child);
        break;
      case Watch::exit:
        reap(child);
        break;
    }
  }

  void read_stdout(Child& child) {
    char buffer[read_size];
    while (child.out_fd >= 0 && !child.out_paused) {
      const ssize_t n = ::read(child.out_fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        // Everything the exited process wrote has been read (a descendant may hold the pipe).
        if (child.exited) finish(child);
        return;
      }
      if (n <= 0) {  // EOF (or an error: the same for us)
        stop_watch(child.out_fd);
        if (child.exited) finish(child);
        return;
      }
      take_stdout(child, std::string_view(buffer, static_cast<std::size_t>(n)));
    }
  }

  void take_stdout(Child& child, std::string_view data) {
    if (settings.binary) {
      send(child, std::string(data), MessageKind::binary);
      return;
    }
    while (!data.empty()) {
      const std::size_t newline = data.find('\n');
      const std::size_t take = newline == std::string_view::npos ? data.size() : newline;
      child.out_line.append(data.substr(0, take));
      if (newline != std::string_view::npos) {
        send_line(child);
        data.remove_prefix(take + 1);
      } else {
        data = {};
      }
      while (child.out_line.size() >= settings.max_line) {
        std::string piece = child.out_line.substr(0, settings.max_line);
        child.out_line.erase(0, settings.max_line);
        send_text_or_binary(child, std::move(piece));
      }
    }
  }

  void send_line(Child& child) {
    std::string line;
    line.swap(child.out_line);
    send_text_or_binary(child, std::move(line));
  }

  void send_text_or_binary(Child& child, std::string data) {
    const MessageKind kind = proto::is_valid_utf8(data) ? MessageKind::text : MessageKind::binary;
    send(child, std::move(data), kind);
  }

  // Posts one message to the connection; stdout is no longer read while 1 MiB is in flight.
  void send(Child& child, std::string data, MessageKind kind) {
    if (child.gone) return;
    const std::size_t size = data.size() + 1;  // +1: an empty line still counts
    child.in_flight += size;
    if (child.in_flight > max_in_flight) pause_stdout(child, true);
    std::weak_ptr<Impl> self = weak_from_this();
    const std::uint64_t id = child.id;
    child.ws.post(
        [self, id, size, kind, ticket = child.ticket, data = std::move(data)](WebSocket& ws) {
          const SendStatus status = ws.send(std::string_view(data), kind);
          if (status == SendStatus::backpressure) {
            ticket->owed_ack += size;
            return;
          }
          if (std::shared_ptr<Impl> impl = self.lock()) impl->post_ack(id, size);
        });
  }

  void post_ack(std::uint64_t id, std::size_t size) {
    loop.post([this, id, size] {
      const auto it = children.find(id);
      if (it == children.end()) return;
      Child& child = *it->second;
      child.in_flight -= std::min(child.in_flight, size);
      if (child.out_paused && child.in_flight <= max_in_flight / 2) {
        pause_stdout(child, false);
        read_stdout(child);  // an exited process's rest, now that there is room
      }
    });
  }

  void pause_stdout(Child& child, bool pause) {
    child.out_paused = pause;
    if (child.out_fd >= 0)
      loop.modify(child.out_fd, pause ? io::Interest::none : io::Interest::read);
  }

  void read_stderr(Child& child, bool final) {
    char buffer[4096];
    while (child.err_fd >= 0) {
      const ssize_t n = ::read(child.err_fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) {
        stop_watch(child.err_fd);
        break;
      }
      std::string_view data(buffer, static_cast<std::size_t>(n));
      while (!data.empty()) {
        const std::size_t newline = data.find('\n');
        if (newline == std::string_view::npos) {
          child.err_line.append(data);
          if (child.err_line.size() >= 4096) flush_stderr_line(child);
          break;
        }
        child.err_line.append(data.substr(0, newline));
        flush_stderr_line(child);
        data.remove_prefix(newline + 1);
      }
    }
    if (final && !child.err_line.empty()) flush_stderr_line(child);
  }

  void flush_stderr_line(Child& child) {
    write_stderr("wsx serve: " + child.label + " " + child.err_line + "\n");
    child.err_line.clear();
  }

  void deliver(std::uint64_t id, std::string data) {
    const auto it = children.find(id);
    if (it == children.end()) return;
    Child& child = *it->second;
    if (child.in_fd < 0) return;
    child.in_buffer += data;
    if (!settings.binary) child.in_buffer += '\n';
    if (child.in_buffer.size() > settings.max_stdin) {
      // The process does not read: the client cannot be told to wait, so it is told to retry.
      child.ws.close(1013, "the process does not read its input");
      connection_gone(id);
      return;
    }
    write_stdin(child);
  }

  void write_stdin(Child& child) {
    while (child.in_fd >= 0 && !child.in_buffer.empty()) {
      const ssize_t n = ::write(child.in_fd, child.in_buffer.data(), child.in_buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        loop.modify(child.in_fd, io::Interest::write);
        return;
      }
      if (n < 0) {  // EPIPE: the process closed its stdin; what it did not take is dropped
        child.in_buffer.clear();
        stop_watch(child.in_fd);
        return;
      }
      child.in_buffer.erase(0, static_cast<std::size_t>(n));
    }
    if (child.in_fd >= 0) loop.modify(child.in_fd, io::Interest::none);
  }

  void stop_watch(int& fd) {
    if (fd < 0) return;
    loop.remove(fd);
    close_fd(fd);
  }

  void reap(Child& child) {
    // The pidfd is readable once the process has exited; it stays a zombie until waitpid, so
    // its pid (and process group id) cannot be reused while the group is signalled here.
    if (child.gone) ::kill(-child.pid, SIGKILL);  // descendants that outlived SIGTERM
    int status = 0;
    const pid_t reaped = ::waitpid(child.pid, &status, WNOHANG);
    if (reaped != child.pid) return;  // not yet (cannot happen with a readable pidfd)
    child.exited = true;
    child.status = status;
    stop_watch(child.pidfd);
    if (!settings.quiet) {
      write_stderr("wsx serve: " + child.label + " " + describe_status(status) +
                   (child.gone ? " (connection closed)\n" : "\n"));
    }
    if (child.gone || child.out_fd < 0) {
      finish(child);
    } else if (!child.out_paused) {
      read_stdout(child);  // drains what is left, then finishes
    }
  }

  // The process has exited and its stdout is drained: the rest, then the close, in order.
  void finish(Child& child) {
    read_stderr(child, true);
    if (!child.gone) {
      if (!child.out_line.empty()) send_line(child);
      const bool ok = WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0;
      child.ws.close(ok ? 1000 : 1011, ok ? "" : describe_status(child.status));
    }
    remove(child);
  }

  void remove(Child& child) {
    for (int* fd : {&child.out_fd, &child.err_fd, &child.in_fd, &child.pidfd}) stop_watch(*fd);
    if (child.kill_timer != 0) loop.cancel(child.kill_timer);
    children.erase(child.id);  // releases the slot
    if (shutting_down && children.empty()) loop.stop();
  }

  // The connection closed (or the server stops): end the process, SIGKILL after the grace.
  void connection_gone(std::uint64_t id) {
    const auto it = children.find(id);
    if (it == children.end()) return;
    Child& child = *it->second;
    if (child.gone) return;
    child.gone = true;
    child.in_buffer.clear();
    stop_watch(child.in_fd);
    stop_watch(child.out_fd);
    if (child.exited) {  // reaped, its stdout was being drained: nothing more to send
      finish(child);
      return;
    }
    ::kill(-child.pid, SIGTERM);
    child.kill_timer = loop.run_after(settings.kill_grace, [this, id] {
      const auto found = children.find(id);
      if (found == children.end()) return;
      found->second->kill_timer = 0;
      ::kill(-found->second->pid, SIGKILL);
    });
  }

  void shut_down() {
    shutting_down = true;
    std::vector<std::uint64_t> ids;
    for (const auto& [id, child] : children) ids.push_back(id);
    for (std::uint64_t id : ids) connection_gone(id);
    if (children.empty()) loop.stop();
  }
};

ExecSupervisor::ExecSupervisor(ExecSettings settings)
    : settings_(std::move(settings)), impl_(std::make_shared<Impl>(settings_)) {
  impl_->start_thread();
}

ExecSupervisor::~ExecSupervisor() {
  shutdown();
}

void ExecSupervisor::shutdown() {
  if (!impl_->thread.joinable()) return;
  impl_->loop.post([impl = impl_.get()] { impl->shut_down(); });
  impl_->thread.join();
}

std::shared_ptr<ExecTicket> ExecSupervisor::admit(const UpgradeRequest& request) {
  std::shared_ptr<void> slot = impl_->reserve();
  if (!slot) return nullptr;
  auto ticket = std::make_shared<ExecTicket>();
  ticket->environment = exec_environment(request, settings_.site, environ);
  ticket->slot = std::move(slot);
  return ticket;
}

UpgradeDecision ExecSupervisor::busy() const {
  proto::HeaderList headers;
  headers.emplace_back("Retry-After", "1");
  headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return UpgradeDecision::reject(
      503,
      "too many processes (" + std::to_string(settings_.max_processes) + "); try again later\n",
      std::move(headers));
}

void ExecSupervisor::start(WebSocket& ws, const std::shared_ptr<ExecTicket>& ticket) {
  ticket->id = impl_->next_id.fetch_add(1);
  impl_->loop.post([impl = impl_, id = ticket->id, handle = ws.handle(), ticket,
                    remote = ws.remote_address(), environment = std::move(ticket->environment),
                    slot = std::move(ticket->slot)]() mutable {
    impl->spawn(id, std::move(handle), std::move(ticket), std::move(remote), std::move(environment),
                std::move(slot));
  });
}

void ExecSupervisor::deliver(const ExecTicket& ticket, const Message& message) {
  impl_->loop.post([impl = impl_, id = ticket.id, data = std::string(message.text())]() mutable {
    impl->deliver(id, std::move(data));
  });
}

void ExecSupervisor::drained(ExecTicket& ticket) {
  if (ticket.owed_ack == 0) return;
  impl_->post_ack(ticket.id, ticket.owed_ack);
  ticket.owed_ack = 0;
}

void ExecSupervisor::closed(const ExecTicket& ticket) {
  impl_->loop.post([impl = impl_, id = ticket.id] { impl->connection_gone(id); });
}

bool command_exists(const std::string& command) {
  const auto executable = [](const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
  };
  if (command.find('/') != std::string::npos) return executable(command);
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const std::size_t colon = rest.find(':');
    std::string directory(rest.substr(0, colon));
    if (directory.empty()) directory = ".";
    if (executable(directory + "/" + command)) return true;
    if (colon == std::string_view::npos) return false;
    rest.remove_prefix(colon + 1);
  }
}

}  // namespace wsx::tool
