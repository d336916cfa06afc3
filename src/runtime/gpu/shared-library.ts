/**
 * What a Linux shared library (ELF, 64-bit little-endian) says about itself without being loaded: the libraries it
 * needs (DT_NEEDED, e.g. `libcudart.so.13`: the CUDA it was built for) and the onnxruntime version recorded in its
 * read-only data (onnxruntime's libraries hold their version, e.g. `1.29.0`, as a string of its own).
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface SharedLibraryInfo {
  /** The libraries the dynamic loader must find for it, in the order it lists them. */
  needed: string[];
  /** The onnxruntime version recorded in it, when exactly one is found. */
  onnxruntimeVersion?: string;
}

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
}

const SHT_DYNAMIC = 6;
const SHT_DYNSYM = 11;
/** Size of one Elf64_Sym entry. */
const SYMBOL_BYTES = 24;
const DT_NEEDED = 1n;
/** .rodata past this size is not scanned for a version (the CUDA provider's is about 26 MB). */
const MAX_SCAN_BYTES = 256 << 20;

function read(fd: number, offset: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buffer.subarray(0, done);
}

const cString = (buffer: Buffer, at: number): string => {
  const end = buffer.indexOf(0, at);
  return buffer.toString('latin1', at, end < 0 ? buffer.length : end);
};

function sections(fd: number): Section[] {
  const header = read(fd, 0, 64);
  if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(header.readBigUInt64LE(0x28));
  const shentsize = header.readUInt16LE(0x3a);
  const shnum = header.readUInt16LE(0x3c);
  const shstrndx = header.readUInt16LE(0x3e);
  const table = read(fd, shoff, shentsize * shnum);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const at = i * shentsize;
    return {
      nameAt: table.readUInt32LE(at),
      type: table.readUInt32LE(at + 4),
      offset: Number(table.readBigUInt64LE(at + 24)),
      size: Number(table.readBigUInt64LE(at + 32)),
      link: table.readUInt32LE(at + 40),
    };
  });
  const names = raw[shstrndx] === undefined ? Buffer.alloc(0) : read(fd, raw[shstrndx]!.offset, raw[shstrndx]!.size);
  return raw.map((s) => ({ name: cString(names, s.nameAt), type: s.type, offset: s.offset, size: s.size, link: s.link }));
}

/** The entries of the first section of `type` and the string table it links to, or undefined without one. */
function tableWithStrings(fd: number, all: Section[], type: number): { entries: Buffer; text: Buffer } | undefined {
  const table = all.find((s) => s.type === type);
  const strings = table === undefined ? undefined : all[table.link];
  if (table === undefined || strings === undefined) return undefined;
  return { entries: read(fd, table.offset, table.size), text: read(fd, strings.offset, strings.size) };
}

/** Opens `file`, reads its section headers and hands both to `use`; throws when it is not a readable ELF file. */
function withElf<T>(file: string, use: (fd: number, all: Section[]) => T): T {
  const fd = openSync(file, 'r');
  try {
    return use(fd, sections(fd));
  } finally {
    closeSync(fd);
  }
}

/** The libraries listed as DT_NEEDED in the .dynamic section. */
function neededLibraries(fd: number, all: Section[]): string[] {
  const dynamic = tableWithStrings(fd, all, SHT_DYNAMIC);
  if (dynamic === undefined) return [];
  const { entries, text } = dynamic;
  const needed: string[] = [];
  for (let at = 0; at + 16 <= entries.length; at += 16) {
    const tag = entries.readBigInt64LE(at);
    if (tag === 0n) break;
    if (tag === DT_NEEDED) needed.push(cString(text, Number(entries.readBigUInt64LE(at + 8))));
  }
  return needed;
}

/** The one onnxruntime version (`1.NN.N`, a string of its own) in `.rodata`, if exactly one is there. */
export function onnxruntimeVersionIn(data: Buffer): string | undefined {
  const found = new Set<string>();
  for (const match of data.toString('latin1').matchAll(/\0(1\.\d{2,3}\.\d{1,3})\0/g)) found.add(match[1]!);
  return found.size === 1 ? [...found][0] : undefined;
}

/** What `file` needs and which onnxruntime it records; throws when it is not a readable ELF file. */
export function sharedLibraryInfo(file: string): SharedLibraryInfo {
  return withElf(file, (fd, all) => {
    const needed = neededLibraries(fd, all);
    const rodata = all.find((s) => s.name === '.rodata');
    const version = rodata === undefined || rodata.size > MAX_SCAN_BYTES ? undefined : onnxruntimeVersionIn(read(fd, rodata.offset, rodata.size));
    return { needed, ...(version === undefined ? {} : { onnxruntimeVersion: version }) };
  });
}

/** The symbols `file` defines for other libraries to bind to (its .dynsym entries with a section); throws when it is not a readable ELF file. */
export function exportedSymbols(file: string): Set<string> {
  return withElf(file, (fd, all) => {
    const names = new Set<string>();
    const symbols = tableWithStrings(fd, all, SHT_DYNSYM);
    if (symbols === undefined) return names;
    const { entries, text } = symbols;
    for (let at = 0; at + SYMBOL_BYTES <= entries.length; at += SYMBOL_BYTES) {
      const definedInSection = entries.readUInt16LE(at + 6) !== 0; // st_shndx: 0 is SHN_UNDEF, an import
      if (definedInSection) names.add(cString(text, entries.readUInt32LE(at)));
    }
    names.delete('');
    return names;
  });
}
