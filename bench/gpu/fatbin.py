#!/usr/bin/env python3
"""Lists, or cuts down to one GPU architecture, the CUDA fatbin inside a shared library.

onnxruntime's CUDA provider (libonnxruntime_providers_cuda.so) carries its GPU kernels in the ELF section
.nv_fatbin: a series of fatbin blobs, each a header followed by entries, one per kernel image, every entry being
either SASS machine code (a cubin, kind 2) for one architecture (sm_75, sm_80, ..., sm_120) or PTX (kind 1). The
provider the GPU kit uses holds machine code for six architectures and no PTX, which packs to about 165 MB, more
than one file the GPU machine takes. A GPU runs only machine code of its own major architecture (Hopper: sm_90),
so the other entries are dead weight there.

`keep` overwrites the payload of every machine-code entry of another architecture with zeros, and leaves PTX
entries alone. Nothing moves: the library keeps its size, and every offset in the ELF file and in the fatbin
headers stays valid, so the loader and the CUDA runtime read it as before and pick the sm_90 entry; the zeros
pack to almost nothing (about 38 MB packed with xz). The library so cut runs only on GPUs of the kept
architecture: CUDA would load a zeroed image on any other, and fail.

Usage:
  python3 fatbin.py LIB                  bytes per entry kind and architecture (and which are zeroed)
  python3 fatbin.py LIB keep ARCH OUT    writes LIB to OUT with machine code for ARCH only (90: sm_90)
"""
import struct
import sys
from collections import Counter

FATBIN_MAGIC = 0xBA55ED50
KIND_NAMES = {1: 'PTX', 2: 'SASS'}


def sections(elf):
    """{name: (file offset, size)} of an ELF64 little-endian file's sections."""
    if elf[:4] != b'\x7fELF' or elf[4] != 2 or elf[5] != 1:
        raise SystemExit('not a 64-bit little-endian ELF file')
    shoff, = struct.unpack_from('<Q', elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', elf, 0x3A)

    def header(i):
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, ...
        name, _, _, _, offset, size = struct.unpack_from('<IIQQQQ', elf, shoff + i * shentsize)
        return name, offset, size

    names_at = header(shstrndx)[1]
    found = {}
    for i in range(shnum):
        name, offset, size = header(i)
        start = names_at + name
        found[elf[start:elf.index(0, start)].decode()] = (offset, size)
    return found


def entries(elf, start, end):
    """Yields (kind, arch, payload offset, payload size) for every entry of every fatbin blob in elf[start:end]."""
    p = start
    while p < end:
        magic, _version, header_size, blob_size = struct.unpack_from('<IHHQ', elf, p)
        if magic != FATBIN_MAGIC:
            p += 8  # blobs are 8-byte aligned; skip padding between them
            continue
        q = p + header_size
        blob_end = q + blob_size
        while q < blob_end:
            kind, _, entry_header_size, payload_size = struct.unpack_from('<HHIQ', elf, q)
            arch, = struct.unpack_from('<I', elf, q + 28)
            yield kind, arch, q + entry_header_size, payload_size
            q += entry_header_size + payload_size
        p = blob_end


def main(argv):
    if len(argv) not in (1, 4) or (len(argv) == 4 and (argv[1] != 'keep' or not argv[2].isdigit())):
        raise SystemExit('usage:' + __doc__.split('Usage:')[1].rstrip())
    elf = bytearray(open(argv[0], 'rb').read())
    found = sections(elf)
    if '.nv_fatbin' not in found:
        raise SystemExit(f'{argv[0]}: no .nv_fatbin section')
    offset, size = found['.nv_fatbin']
    keep = int(argv[2]) if len(argv) == 4 else None
    totals = Counter()
    blank = Counter()  # bytes already all zeros (a library cut before)
    zeroed = 0
    for kind, arch, at, length in entries(elf, offset, offset + size):
        totals[(kind, arch)] += length
        if not any(elf[at:at + length]):
            blank[(kind, arch)] += length
        elif keep is not None and kind == 2 and arch != keep:
            elf[at:at + length] = bytes(length)
            zeroed += length
    for (kind, arch), length in sorted(totals.items()):
        note = ' (zeroed)' if blank[(kind, arch)] == length else ''
        print(f'{KIND_NAMES.get(kind, f"kind {kind}")} sm_{arch}: {length / 1e6:.1f} MB{note}')
    if keep is not None:
        if (2, keep) not in totals:
            raise SystemExit(f'no machine code for sm_{keep} in {argv[0]}; nothing written')
        with open(argv[3], 'wb') as out:
            out.write(elf)
        print(f'zeroed {zeroed / 1e6:.1f} MB of machine code for other architectures; wrote {argv[3]}')


if __name__ == '__main__':
    main(sys.argv[1:])
