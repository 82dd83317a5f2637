#!/usr/bin/python3
"""Runs one interop test: starts a server on a free port, waits until it accepts, runs a client
against it, and always cleans up (the server's process group is killed, and it dies with us even
if we are killed: PR_SET_PDEATHSIG). Exit status: the client's; 77 when a peer is not installed,
or when a program of this build the test runs was not built (a build of some targets only, as
`cmake --build --target ...` makes): CTest reports the test as skipped, with the reason.

Command templates may use {port} {cert} {key} {ca} {dir} {here}; with --tls, a CA and a server
certificate for localhost / 127.0.0.1 / ::1 are generated with the openssl CLI in a temp dir.
"""
import argparse
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def die_with_parent():
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def make_certificates(directory):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=wsx interop CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
            cwd=directory)
    with open(os.path.join(directory, "server.ext"), "w") as ext:
        ext.write("basicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=serverAuth\n"
                  "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
            cwd=directory)


def peers_available(commands):
    text = " ".join(commands)
    if ".py" in text:
        probe = subprocess.run(["/usr/bin/python3", "-c", "import websockets"],
                               capture_output=True, env={"PYTHONPATH": "/usr/lib/python3/dist-packages"})
        if probe.returncode != 0:
            return "python3-websockets is not installed (scripts/install-deps.sh)"
    if ".js" in text:
        if shutil.which("node") is None or not os.path.isdir("/usr/share/nodejs/ws"):
            return "nodejs / node-ws is not installed (scripts/install-deps.sh)"
    return None


def unbuilt_programs(commands, build_dir):
    """The programs of `commands` that belong to this build (under `build_dir`) but are not there:
    their targets were not built. A full build (CI's) has them all, so its tests all run."""
    if not build_dir:
        return []
    build_dir = os.path.abspath(build_dir) + os.sep
    missing = []
    for command in commands:
        program = shlex.split(command)[0]
        if program.startswith(build_dir) and not os.path.exists(program):
            missing.append(program)
    return missing


def wait_listening(port, server, deadline):
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(process):
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=3)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--build-dir", help="the CMake build tree the wsx programs come from")
    args = parser.parse_args()

    unbuilt = unbuilt_programs([args.server, args.client], args.build_dir)
    if unbuilt:
        print("SKIP: not built in this build tree (build its target, or everything):",
              " ".join(unbuilt))
        return SKIP

    missing = peers_available([args.server, args.client])
    if missing:
        print("SKIP:", missing)
        return SKIP

    directory = tempfile.mkdtemp(prefix="wsx-interop-")
    server = None
    server_log = None
    # CTest's own timeout kills us with SIGTERM first: turn it into a normal exit, so the
    # finally clause below still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    try:
        if args.tls:
            make_certificates(directory)
        environment = dict(os.environ, NODE_PATH="/usr/share/nodejs")
        server_log = open(os.path.join(directory, "server.log"), "w+")
        deadline = time.monotonic() + args.timeout
        # The port is free when chosen but could be taken before the server binds it (tests run
        # in parallel): a server that exits without listening gets another port.
        for attempt in range(3):
            values = {
                "port": free_port(), "dir": directory, "here": HERE,
                "cert": os.path.join(directory, "server.pem"),
                "key": os.path.join(directory, "server.key"),
                "ca": os.path.join(directory, "ca.pem"),
            }
            server_command = shlex.split(args.server.format(**values))
            client_command = shlex.split(args.client.format(**values))
            print("server:", " ".join(server_command))
            print("client:", " ".join(client_command), flush=True)
            server = subprocess.Popen(server_command, stdout=server_log, stderr=subprocess.STDOUT,
                                      preexec_fn=die_with_parent, env=environment)
            if wait_listening(values["port"], server, min(deadline, time.monotonic() + 15)):
                break
            stop(server)
            print("the server did not start listening (attempt %d)" % (attempt + 1), flush=True)
        else:
            print("FAIL: the server did not start listening")
            return 1
        try:
            client = subprocess.run(client_command, preexec_fn=die_with_parent, env=environment,
                                    timeout=max(1.0, deadline - time.monotonic()))
            status = client.returncode
        except subprocess.TimeoutExpired:
            print("FAIL: the client did not finish within %.0f s" % args.timeout)
            status = 1
        if server.poll() is not None:
            print("FAIL: the server exited during the test with status %d" % server.returncode)
            status = status or 1
        return status
    finally:
        stop(server)
        if server_log is not None:
            server_log.seek(0)
            log = server_log.read()
            if log.strip():
                print("--- server output ---\n" + log[-4000:])
            server_log.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
