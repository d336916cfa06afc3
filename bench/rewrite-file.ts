/** Contender: the CLI's main job (load, rewrite for N devices, save) on a file; prints peak RSS in bytes. */
import { parallelizeFile } from '../src/parallelize-file.js';

const [input, output, gpus] = process.argv.slice(2);
await parallelizeFile(input!, { devices: Array.from({ length: Number(gpus ?? 4) }, (_, i) => `cuda:${i}`), output: output! });
process.stdout.write(`${process.resourceUsage().maxRSS * 1024}\n`);
