#!/usr/bin/env python3
"""Unpack every member of a GNU ar archive under a unique name.

`ar x` overwrites members that share a name (libcrypto.a has several), and the
objects of libuv, libcrypto and libssl end up in one archive, so each member is
written as <prefix>_<index>_<name>. Prints the written names, one per line.
"""
import os
import sys


def members(data):
    if not data.startswith(b"!<arch>\n"):
        raise SystemExit("not an ar archive")
    pos, long_names = 8, b""
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().rstrip()
        size = int(header[48:58].decode().strip())
        body = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name in ("/", "/SYM64/"):  # symbol table
            continue
        if name == "//":  # long-name table
            long_names = body
            continue
        if name.startswith("/"):
            start = int(name[1:])
            name = long_names[start : long_names.index(b"/\n", start)].decode()
        yield name.rstrip("/"), body


def main():
    archive, out_dir, prefix = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    with open(archive, "rb") as f:
        data = f.read()
    for index, (name, body) in enumerate(members(data)):
        unique = f"{prefix}_{index:04d}_{os.path.basename(name)}"
        with open(os.path.join(out_dir, unique), "wb") as f:
            f.write(body)
        print(unique)


if __name__ == "__main__":
    main()
