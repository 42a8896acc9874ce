"""Which addresses a process and its descendants listen on, read from /proc (Linux) as `ss -tulpn` does.

A listening TCP socket or a bound UDP socket without a peer accepts traffic from whatever its address
reaches: 127.0.0.1 (or ::1, or ::ffff:127.0.0.1 on a dual-stack socket) only this machine, 0.0.0.0, ::
or a host address the network.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

TCP_LISTEN = "0A"
"""The state column of /proc/net/tcp for a listening socket."""


@dataclass(frozen=True)
class Listener:
    protocol: str
    address: str
    port: int
    pid: int
    command: str

    @property
    def loopback(self) -> bool:
        ip = ipaddress.ip_address(self.address)
        mapped = getattr(ip, "ipv4_mapped", None)
        return (mapped or ip).is_loopback


def process_tree(root: int) -> list[int]:
    """root and every process below it (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> str:
    """/proc/net's address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, swapped)


def _bound_sockets(pid: int) -> dict[str, tuple[str, str, int]]:
    """inode → (protocol, address, port) of the listening TCP and unconnected bound UDP sockets in pid's namespace."""
    found = {}
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{protocol}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            address, port = local.split(":")
            listening = state == TCP_LISTEN if protocol.startswith("tcp") else int(remote.split(":")[1], 16) == 0
            if listening and int(port, 16):
                found[inode] = (protocol, _address(address), int(port, 16))
    return found


def listeners(root: int) -> list[Listener]:
    """Every socket on which root or a process below it accepts connections or datagrams."""
    result = []
    for pid in process_tree(root):
        inodes = _socket_inodes(pid)
        if not inodes:
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        result += [
            Listener(protocol, address, port, pid, command)
            for inode, (protocol, address, port) in _bound_sockets(pid).items()
            if inode in inodes
        ]
    return result
