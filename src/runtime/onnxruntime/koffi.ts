/** koffi, the foreign function interface that calls onnxruntime's C API (one import point, for its types). */
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';

export const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;

export type KoffiFunction = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };
