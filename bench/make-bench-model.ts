/** Writes the session benchmark's model (a 4-layer 1024-wide float32 MLP) to the given path. */
import { copyFileSync } from 'node:fs';
import { mlpModel } from './harness.js';

copyFileSync(await mlpModel(), process.argv[2]!);
