#!/usr/bin/env python3
"""Write fuzz seeds for the parse_process target from the shipped captures.

One seed per distinct frame of appliance/captures/*.pcapng (direction from
the interface id), plus sequences of 16 consecutive frames so that stateful
paths (trap then fly, handshake then RST) are in the corpus from the start.
Input format: see src/fuzz_harness.rs. Standard library only.
"""
import hashlib, os, struct, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
out = os.path.join(root, "fuzz", "corpus", "parse_process")
os.makedirs(out, exist_ok=True)

def pcapng_frames(path):
    data = open(path, "rb").read()
    off = 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if btype == 6:  # enhanced packet block
            iface, _hi, _lo, cap, _orig = struct.unpack_from("<IIIII", data, off + 8)
            yield iface, data[off + 28: off + 28 + cap]
        off += blen

def record(iface, frame, step=1):
    return bytes([(step << 1) | (1 if iface == 1 else 0)]) + struct.pack(">H", len(frame)) + frame

def write(blob):
    name = hashlib.sha1(blob).hexdigest()
    with open(os.path.join(out, name), "wb") as f:
        f.write(blob)

n = 0
for cap in sorted(c for c in os.listdir(os.path.join(root, "appliance", "captures")) if c.endswith(".pcapng")):
    frames = list(pcapng_frames(os.path.join(root, "appliance", "captures", cap)))
    seen = set()
    for iface, fr in frames:
        if fr not in seen:
            seen.add(fr)
            write(record(iface, fr)); n += 1
    for i in range(0, len(frames), 16):
        write(b"".join(record(ifc, fr, 0) for ifc, fr in frames[i:i + 16])); n += 1
print(f"{n} seeds in {out}")
