"""Shared by the Python interop peers: command-line options, TLS contexts and the scenario list.

The peers import websockets from Debian's python3-websockets (10.4); run them with /usr/bin/python3.
"""
import argparse
import ssl
import sys

sys.path.insert(0, "/usr/lib/python3/dist-packages")

from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

# Sizes every peer exchanges in both kinds: the frame-length boundaries of RFC 6455 §5.2
# (125 / 126, 65535 / 65536) and a large message (--large-size, 16 MiB by default) far beyond
# the read buffers.
BOUNDARY_SIZES = [0, 1, 125, 126, 65535, 65536]
LARGE_SIZE = 16 * 1024 * 1024


def sizes(large_size=LARGE_SIZE):
    return BOUNDARY_SIZES + [large_size]


# The patterns repeat (see the periods below): a period is built once and repeated, which makes
# the 16 MiB messages in milliseconds instead of seconds of interpreter time per test.
TEXT_PERIOD = 91 * 63  # i // 91 advances by 63 (the alphabet's size) and i * 7 by 0 mod 63
BYTES_PERIOD = 65536  # (i >> 8) & 0xFF repeats every 65536, (i * 13) & 0xFF every 256


def repeated(period, size):
    return (period * (size // len(period) + 1))[:size] if size else period[:0]


def pattern_text(size, salt=0):
    """ASCII text, varied enough to be compressible but not trivially so."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    period = "".join(alphabet[(i * 7 + i // 91 + salt) % len(alphabet)]
                     for i in range(min(size, TEXT_PERIOD)))
    return repeated(period, size)


def pattern_bytes(size, salt=0):
    period = bytes(((i * 13) ^ (i >> 8) ^ salt) & 0xFF for i in range(min(size, BYTES_PERIOD)))
    return repeated(period, size)


def parse_deflate(spec):
    """'off' → None; 'on' or 'k[=v],k[=v]' → a dict of permessage-deflate parameters."""
    if spec in (None, "", "off"):
        return None
    params = {}
    if spec == "on":
        return params
    for item in spec.split(","):
        name, _, value = item.partition("=")
        params[name.strip()] = int(value) if value else True
    return params


def server_deflate_factory(params):
    return ServerPerMessageDeflateFactory(
        server_no_context_takeover=bool(params.get("server_no_context_takeover")),
        client_no_context_takeover=bool(params.get("client_no_context_takeover")),
        server_max_window_bits=params.get("server_max_window_bits"),
        client_max_window_bits=params.get("client_max_window_bits"),
    )


def client_deflate_factory(params):
    # client_max_window_bits: True offers the parameter without a value (the default).
    cmwb = params.get("client_max_window_bits", True)
    return ClientPerMessageDeflateFactory(
        server_no_context_takeover=bool(params.get("server_no_context_takeover")),
        client_no_context_takeover=bool(params.get("client_no_context_takeover")),
        server_max_window_bits=params.get("server_max_window_bits"),
        client_max_window_bits=cmwb,
    )


def common_arguments(parser: argparse.ArgumentParser):
    parser.add_argument("--deflate", default="off", help="off | on | name[=value],...")
    parser.add_argument("--subprotocols", default="", help="comma-separated")
    parser.add_argument("--max-lifetime", type=float, default=120.0)
    parser.add_argument("--large-size", type=int, default=LARGE_SIZE,
                        help="the largest echoed message (a client option; see CMakeLists.txt)")


def server_tls(cert, key):
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def client_tls(url, ca):
    if not url.startswith("wss:"):
        return None
    context = ssl.create_default_context(cafile=ca or None)
    return context
