#!/usr/bin/env python3
"""The image behind seed-transcript.txt: the seed document's steps 8 to 16 as
a replay script, with the chunk payloads the seed elides ("C7AC******F8")
filled in by a deterministic generator that keeps the bytes the seed shows.

The transcript itself is committed data, edited by hand; this script only
remakes seed-image.bin (the image its chunks carry) and documents how those
bytes were chosen: `make-seed-transcript.py > seed-image.bin`.

Format, one item per line:
  # text                  comment
  @ key k=v ...           harness directive (device data, image facts)
  < text                  a line the module sends (CR LF is appended)
  <                       an empty line the module sends (the seed's layout)
  > text                  the exact command the gateway must send (CR appended)
  >! text                 same, but the seed prints something else here: this
                          is the corrected form (the two slips of issue 2)
"""
import hashlib

SIZE = 13 * 1024 + 346  # 13 full chunks of 1024 bytes and a last one of 346


def image():
    out = bytearray()
    n = 0
    while len(out) < SIZE:
        out += hashlib.sha256(b"sotagw seed image %d" % n).digest()
        n += 1
    out = out[:SIZE]
    # Bytes the seed shows: first two and last byte of chunks 1, 2, 13, 14.
    shown = {0: ("C7AC", "F8"), 1: ("D3A6", "EB"), 12: ("AEC9", "C9"), 13: ("CFA3", "0A")}
    for idx, (head, tail) in shown.items():
        start = idx * 1024
        end = min(start + 1024, SIZE)
        out[start:start + 2] = bytes.fromhex(head)
        out[end - 1] = int(tail, 16)
    return bytes(out)


def main():
    import sys

    sys.stdout.buffer.write(image())


if __name__ == "__main__":
    main()
