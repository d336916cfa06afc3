/**
 * A file mapped read-only into memory (the C library's mmap, called through koffi), private to this process.
 * Its pages are the file's: once read they count in the process's resident memory, and `dropResidentPages()`
 * (madvise MADV_DONTNEED) gives them back. That is always safe for a private mapping never written to: a later
 * read of a dropped page reads it from the file again, with the same bytes.
 */
import { closeSync, openSync } from 'node:fs';
import { koffi } from '../onnxruntime/koffi.js';

const PROT_READ = 1;
const MAP_PRIVATE = 2;
const MADV_DONTNEED = 4;

interface Libc {
  mmap: (address: number, length: number, protection: number, flags: number, fd: number, offset: number) => number | bigint;
  madvise: (address: number, length: number, advice: number) => number;
  munmap: (address: number, length: number) => number;
}

let libc: Libc | null | undefined;
/** The C library's mapping functions, where this platform has them (Linux with glibc); null elsewhere. */
function mappingFunctions(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== 'linux') return libc;
  try {
    const library = koffi.load('libc.so.6');
    libc = {
      mmap: library.func('uint64_t mmap(uint64_t address, size_t length, int protection, int flags, int fd, int64_t offset)') as Libc['mmap'],
      madvise: library.func('int madvise(uint64_t address, size_t length, int advice)') as Libc['madvise'],
      munmap: library.func('int munmap(uint64_t address, size_t length)') as Libc['munmap'],
    };
  } catch {
    // no glibc (musl, say): files are not mapped
  }
  return libc;
}

export class MappedFile {
  #unmapped = false;

  private constructor(
    readonly address: number,
    readonly size: number,
    private readonly libc: Libc,
  ) {}

  /** Maps the first `size` bytes of `file`; throws where it cannot. */
  static open(file: string, size: number): MappedFile {
    const functions = mappingFunctions();
    if (functions === null) throw new Error('files cannot be mapped on this platform');
    const fd = openSync(file, 'r');
    try {
      const address = functions.mmap(0, size, PROT_READ, MAP_PRIVATE, fd, 0);
      // MAP_FAILED, (void *)-1, does not fit a double exactly and comes back as a BigInt.
      if (typeof address !== 'number' || address === 0) throw new Error(`${file}: mmap failed`);
      return new MappedFile(address, size, functions);
    } finally {
      closeSync(fd);
    }
  }

  /** `length` bytes at `offset`, where they lie in the mapping (valid until close()). */
  view(offset: number, length: number): Uint8Array {
    return new Uint8Array(koffi.view(this.address + offset, length));
  }

  /** Gives the pages read so far back to the system; they are read from the file again where needed. */
  dropResidentPages(): void {
    if (!this.#unmapped) this.libc.madvise(this.address, this.size, MADV_DONTNEED);
  }

  close(): void {
    if (this.#unmapped) return;
    this.#unmapped = true;
    this.libc.munmap(this.address, this.size);
  }
}
