/** Contender: loadModel + saveModel; prints peak RSS in bytes. */
import { loadModel, saveModel } from '../src/io/files.js';

const [input, output] = process.argv.slice(2);
await saveModel(await loadModel(input!), output!);
process.stdout.write(`${process.resourceUsage().maxRSS * 1024}\n`);
