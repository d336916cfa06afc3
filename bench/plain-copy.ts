/** Baseline: copy a file with readFileSync + writeFileSync; prints peak RSS in bytes. */
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
writeFileSync(output!, readFileSync(input!));
process.stdout.write(`${process.resourceUsage().maxRSS * 1024}\n`);
