/**
 * A model's versions: the subfolders of its folder named by a positive integer (Triton ignores others, and names
 * with a leading zero), chosen by the configuration's version_policy: the latest N (latest 1 by default), all, or
 * specific versions (those listed that exist; the others are reported).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ModelVersionPolicyConfig } from './model-config.js';

/** Folders Triton keeps in a model's folder that are not versions. */
const NOT_VERSIONS = new Set(['warmup', 'initial_state', 'configs']);

export interface VersionFolders {
  /** Version numbers found, ascending. */
  versions: number[];
  /** Subfolders that are not versions, with why. */
  ignored: string[];
}

export async function versionFolders(entry: string): Promise<VersionFolders> {
  const dirents = await fs.readdir(entry, { withFileTypes: true });
  const versions: number[] = [];
  const ignored: string[] = [];
  for (const dirent of dirents) {
    const isFolder = dirent.isDirectory() || (dirent.isSymbolicLink() && (await fs.stat(path.join(entry, dirent.name)).then((s) => s.isDirectory(), () => false)));
    if (!isFolder || NOT_VERSIONS.has(dirent.name)) continue;
    if (/^[1-9]\d*$/.test(dirent.name) && Number.isSafeInteger(Number(dirent.name))) versions.push(Number(dirent.name));
    else ignored.push(`${dirent.name} (not a version: a version folder is named by a positive whole number without leading zeros)`);
  }
  return { versions: versions.sort((a, b) => a - b), ignored };
}

/** The versions the policy loads (ascending), and the specific versions it names that are not there. */
export function versionsToLoad(existing: readonly number[], policy: ModelVersionPolicyConfig | undefined): { versions: number[]; missing: number[] } {
  if (policy?.specific !== undefined) {
    const wanted = [...new Set(policy.specific.versions ?? [])];
    return { versions: wanted.filter((v) => existing.includes(v)).sort((a, b) => a - b), missing: wanted.filter((v) => !existing.includes(v)) };
  }
  if (policy?.all !== undefined) return { versions: [...existing], missing: [] };
  const latest = policy?.latest?.num_versions ?? 1;
  return { versions: existing.slice(Math.max(0, existing.length - latest)), missing: [] };
}

/** The policy in words, for messages. */
export function describePolicy(policy: ModelVersionPolicyConfig | undefined): string {
  if (policy?.specific !== undefined) return `specific versions ${(policy.specific.versions ?? []).join(', ')}`;
  if (policy?.all !== undefined) return 'all versions';
  return `the latest ${policy?.latest?.num_versions ?? 1}`;
}
