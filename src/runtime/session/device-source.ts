/** What a device creates its session from: the model file itself, or the model's bytes with its weights in memory. */
import type { ExternalFile } from './external-files.js';

export type DeviceSource = { kind: 'path'; path: string } | { kind: 'bytes'; model: Uint8Array; externalData: ExternalFile[] };
