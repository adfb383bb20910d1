#!/usr/bin/env python3
# A DHCPDISCOVER with vendor class OptiIpPhone, as the phones send; prints option 43 of the offer.
import socket, struct, sys, random
iface = sys.argv[1]
mac = bytes.fromhex("001ae8000001")
xid = random.getrandbits(32)
pkt = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0"*4, b"\0"*4, b"\0"*4, b"\0"*4, mac + b"\0"*10, b"\0"*64, b"\0"*128)
pkt += b"\x63\x82\x53\x63"
pkt += bytes([53, 1, 1])
pkt += bytes([60, 11]) + b"OptiIpPhone"
pkt += bytes([55, 4, 1, 3, 6, 43])
pkt += b"\xff"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, 25, iface.encode())  # SO_BINDTODEVICE
s.bind(("0.0.0.0", 68))
s.settimeout(5)
s.sendto(pkt, ("255.255.255.255", 67))
while True:
    data, _ = s.recvfrom(4096)
    if struct.unpack("!I", data[4:8])[0] != xid:
        continue
    opts = data[240:]
    i = 0
    while i < len(opts):
        code = opts[i]
        if code == 255: break
        if code == 0: i += 1; continue
        length = opts[i+1]
        if code == 43:
            print(opts[i+2:i+2+length].hex())
        i += 2 + length
    break
