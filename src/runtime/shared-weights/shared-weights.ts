/**
 * One copy of a model's weights for all its CPU devices. onnxruntime shares an initializer between sessions only
 * when each is given the same caller-owned OrtValue (AddInitializer), and shares its pre-packed form (the layout
 * a MatMul or Gemm kernel repacks its constant weights into) only for such initializers, through one
 * OrtPrepackedWeightsContainer. Without both, every session holds its own copy of each.
 *
 * The caller-owned values lie in a private mapping of the weights file (weights-file.ts); the sessions' model
 * refers to the same file as external data, so that none parses a copy of the weights. Once every session is
 * made, the file is deleted and the pages read while the sessions were made are given back: the kernels that
 * pre-packed a weight never read it again, and a page read later is read from the file again (the mapping keeps
 * the deleted file), so the process holds the pre-packed forms once and the raw weights only where a kernel
 * still reads them.
 *
 * The values, the mapping and the container are released only after every session made with them.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { ortApi, type Handle } from '../onnxruntime/library.js';
import { check } from '../onnxruntime/status.js';
import { rawTensorValue, releaseValue } from '../onnxruntime/values.js';
import { createPrepackedWeightsContainer, releasePrepackedWeightsContainer } from '../onnxruntime/prepacked-weights.js';
import { MappedFile } from './mapped-file.js';
import type { WeightsFile } from './weights-file.js';

export class SharedWeights {
  #released = false;

  private constructor(
    private readonly file: WeightsFile,
    private readonly mapping: MappedFile,
    private readonly values: ReadonlyArray<{ name: string; handle: Handle }>,
    /** The OrtPrepackedWeightsContainer every sharing session is made with. */
    readonly container: Handle,
  ) {}

  /**
   * Maps `file`. Throws where it cannot (the file is then deleted): the sessions' model refers to the file, so
   * they cannot be made without it.
   */
  static open(file: WeightsFile): SharedWeights {
    let mapping: MappedFile | undefined;
    const values: Array<{ name: string; handle: Handle }> = [];
    try {
      // onnxruntime's library first: koffi takes its settings (library.ts) only before its first library is loaded.
      ortApi();
      mapping = MappedFile.open(file.path, file.size);
      for (const w of file.weights) values.push({ name: w.name, handle: rawTensorValue(w.elementType, w.dims, mapping.view(w.offset, w.length)) });
      return new SharedWeights(file, mapping, values, createPrepackedWeightsContainer());
    } catch (error) {
      for (const v of values) releaseValue(v.handle);
      mapping?.close();
      rmSync(file.path, { force: true });
      throw new Error(`the weights shared by the CPU devices cannot be mapped from ${file.path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Has a session made with `sessionOptions` find the weights file its model refers to, and, for a CPU device
   * (`share`, its session made with `container`), use the shared initializers. Another device's session reads
   * the weights from the file into its own memory.
   */
  addTo(sessionOptions: Handle, share: boolean): void {
    const api = ortApi();
    check(api, api.AddSessionConfigEntry(sessionOptions, 'session.model_external_initializers_file_folder_path', path.dirname(this.file.path)));
    if (share) for (const v of this.values) check(api, api.AddInitializer(sessionOptions, v.name, v.handle));
  }

  /**
   * Called once every session is made (or has failed): the file is deleted (the mapping keeps it) and the pages
   * read while the sessions were made go back to the system.
   */
  settle(): void {
    rmSync(this.file.path, { force: true });
    this.mapping.dropResidentPages();
  }

  /** Releases the values, the mapping and the container; only once every session made with them is released. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    rmSync(this.file.path, { force: true });
    for (const v of this.values) releaseValue(v.handle);
    releasePrepackedWeightsContainer(this.container);
    this.mapping.close();
  }
}
