#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Writes the seed corpus for fuzz_header.c: valid headers (encrypted and
# not) built independently of the C encoder from the layout in
# docs/volumes.md, plus a few near misses. Run from the repository root.
import hashlib
import os
import struct

OUT = "tests/fuzz/corpus/header"


def header(encrypted, volid, arn=b"", wrapped=b"", ctx=(), seqno=1, kcv=b"", lineage=b""):
    b = bytearray(4096)
    b[0:8] = b"EBSCRYPT"
    struct.pack_into("<HHIQQQQII", b, 8, 1, 4096, 1 if encrypted else 0, seqno,
                     1700000000, 2048, 131072, 4096, 64 if encrypted else 0)
    b[56:72] = lineage.ljust(16, b"\0")
    b[72:88] = kcv.ljust(16, b"\0")
    b[88:88 + len(volid)] = volid
    cipher = b"aes-xts-plain64" if encrypted else b"none"
    b[120:120 + len(cipher)] = cipher
    p = 256
    for field in (arn, wrapped):
        struct.pack_into("<H", b, p, len(field))
        b[p + 2:p + 2 + len(field)] = field
        p += 2 + len(field)
    struct.pack_into("<H", b, p, len(ctx))
    p += 2
    for k, v in ctx:
        for field in (k, v):
            struct.pack_into("<H", b, p, len(field))
            b[p + 2:p + 2 + len(field)] = field
            p += 2 + len(field)
    b[4064:4096] = hashlib.sha256(bytes(b[:4064])).digest()
    return bytes(b)


def main():
    os.makedirs(OUT, exist_ok=True)
    vol = b"vol-0a1b2c3d4e5f60718"
    lin = bytes(range(1, 17))
    enc = header(True, vol,
                 arn=b"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                 wrapped=bytes((i * 37) & 0xff for i in range(184)),
                 ctx=((b"ebscrypt:volume-id", vol), (b"ebscrypt:lineage", lin.hex().encode())),
                 kcv=bytes(range(100, 116)), lineage=lin)
    files = {
        "encrypted": enc,
        "unencrypted": header(False, b"vol-00000000000000001"),
        "encrypted-rewrapped": header(True, vol, arn=b"arn:aws:kms:us-east-1:1:key/k2",
                                      wrapped=b"\x00" * 200, seqno=7,
                                      ctx=((b"a", b""),), kcv=b"\x01", lineage=b"\x02"),
        "bad-checksum": enc[:4095] + bytes([enc[4095] ^ 1]),
        "truncated": enc[:1000],
        "version-2": enc[:8] + b"\x02" + enc[9:],
    }
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


main()
