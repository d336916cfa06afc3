/**
 * The models served and their versions: lookup by name and version with Triton's error texts, the state of each
 * version for the repository index, and the swap of a model's versions. A swap puts the new versions (ready
 * already) in place in one step, then drains the replaced ones and releases them: no request is dropped, and
 * none waits for a load.
 */
import { messageOf } from '../../errors.js';
import { ServeError } from './errors.js';
import type { MetricsRegistry } from './metrics.js';
import type { ServedVersion, VersionState } from './served-version.js';

/** One row of the repository index, as Triton writes it (`version`, `state` and `reason` only when known). */
export interface IndexEntry {
  name: string;
  version?: string;
  state?: VersionState;
  reason?: string;
}

interface ModelEntry {
  name: string;
  /** The versions serving now, by version. */
  serving: Map<string, ServedVersion>;
  /** The highest version serving: what a request naming no version runs on. */
  latest: ServedVersion | undefined;
  /** States of versions not serving (loading, unloading, unloaded, failed), for the index. */
  others: Map<string, { state: VersionState; reason: string }>;
  /** Why the model's last load failed before any version was known (its configuration, its files). */
  failure: string | undefined;
}

const byVersion = (a: string, b: string): number => Number(a) - Number(b) || a.localeCompare(b);

export const unknownModel = (name: string): ServeError => new ServeError('not_found', `Request for unknown model: '${name}' is not found`);

export class ModelTable {
  readonly #models = new Map<string, ModelEntry>();

  constructor(
    private readonly metrics: MetricsRegistry,
    private readonly drainMs: () => number,
  ) {}

  /** The version to run a request on: `version`, or the latest ready one. Throws Triton's texts for unknown ones. */
  lookup(name: string, version: string | undefined): ServedVersion {
    const model = this.#models.get(name);
    if (model === undefined) throw unknownModel(name);
    if (version === undefined) {
      if (model.latest === undefined) throw new ServeError('not_found', `Request for unknown model: '${name}' has no available versions`);
      return model.latest;
    }
    const served = model.serving.get(version);
    if (served !== undefined) return served;
    const other = model.others.get(version);
    if (other !== undefined && other.state !== 'UNAVAILABLE') throw new ServeError('unavailable', `Request for unknown model: '${name}' version ${version} is not at ready state`);
    throw new ServeError('not_found', `Request for unknown model: '${name}' version ${version} is not found`);
  }

  /** Whether `name` (at `version`, or any) is ready to infer. */
  ready(name: string, version: string | undefined): boolean {
    const model = this.#models.get(name);
    if (model === undefined) return false;
    return version === undefined ? model.latest !== undefined : model.serving.has(version);
  }

  /** Every version serving now, in name and version order; only those of `name` when given. */
  versions(name?: string): ServedVersion[] {
    const models = name === undefined ? [...this.#models.values()].sort((a, b) => a.name.localeCompare(b.name)) : [this.#models.get(name)].filter((m) => m !== undefined);
    return models.flatMap((m) => [...m.serving.values()].sort((a, b) => byVersion(a.version, b.version)));
  }

  /** Whether a version of `name` serves now. */
  serving(name: string): boolean {
    return (this.#models.get(name)?.serving.size ?? 0) > 0;
  }

  /** Names of the models known (serving or not), sorted. */
  names(): string[] {
    return [...this.#models.keys()].sort();
  }

  /** The index rows of `name`: one per version known, or the name alone. */
  indexOf(name: string, readyOnly: boolean): IndexEntry[] {
    const model = this.#models.get(name);
    if (model === undefined) return readyOnly ? [] : [{ name }];
    const rows: IndexEntry[] = [...model.serving.values()].map((v) => ({ name, version: v.version, state: 'READY' as const, reason: '' }));
    if (!readyOnly) for (const [version, { state, reason }] of model.others) if (!model.serving.has(version)) rows.push({ name, version, state, reason });
    if (rows.length === 0 && model.failure !== undefined && !readyOnly) return [{ name, state: 'UNAVAILABLE', reason: model.failure }];
    return rows.sort((a, b) => byVersion(a.version!, b.version!));
  }

  /** Marks versions of `name` as in `state` (LOADING while a load runs), unless they serve already. */
  mark(name: string, versions: readonly string[], state: VersionState, reason = ''): void {
    const model = this.#entry(name);
    for (const version of versions) model.others.set(version, { state, reason });
  }

  /**
   * Serves exactly `versions` for `name` from now on: the new ones take requests at once, and the versions they
   * replace or leave out stop taking requests, are drained (up to the drain time) and released.
   */
  async swap(name: string, versions: readonly ServedVersion[]): Promise<void> {
    const model = this.#entry(name);
    const old = [...model.serving.values()].filter((v) => !versions.includes(v));
    model.serving = new Map(versions.map((v) => [v.version, v]));
    model.failure = undefined;
    for (const v of versions) {
      v.state = 'READY';
      model.others.delete(v.version);
      this.metrics.add(v.metrics);
    }
    this.#refresh(model);
    for (const v of old) {
      v.state = 'UNLOADING';
      if (!model.serving.has(v.version)) model.others.set(v.version, { state: 'UNLOADING', reason: '' });
    }
    await Promise.all(
      old.map(async (v) => {
        await v.drain(this.drainMs());
        this.metrics.remove(v.metrics);
        try {
          await v.release();
        } finally {
          if (!model.serving.has(v.version)) model.others.set(v.version, { state: 'UNAVAILABLE', reason: 'unloaded' });
        }
      }),
    );
  }

  /** Records that loading `name` failed: its versions not serving are UNAVAILABLE with the reason. */
  failed(name: string, versions: readonly string[], error: unknown): void {
    const model = this.#entry(name);
    const reason = messageOf(error);
    model.failure = versions.length === 0 ? reason : undefined;
    for (const version of versions.length > 0 ? versions : [...model.others.keys()]) {
      if (!model.serving.has(version)) model.others.set(version, { state: 'UNAVAILABLE', reason });
    }
  }

  #entry(name: string): ModelEntry {
    let model = this.#models.get(name);
    if (model === undefined) {
      model = { name, serving: new Map(), latest: undefined, others: new Map(), failure: undefined };
      this.#models.set(name, model);
    }
    return model;
  }

  /** The latest version and every version's metadata text, after the set of versions changed. */
  #refresh(model: ModelEntry): void {
    const versions = [...model.serving.keys()].sort(byVersion);
    model.latest = versions.length === 0 ? undefined : model.serving.get(versions[versions.length - 1]!);
    for (const v of model.serving.values()) v.metadataText = v.describe(versions);
  }
}
