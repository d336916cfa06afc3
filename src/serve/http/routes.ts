import type { UnsupportedExtension } from '../core/index.js';

/**
 * The protocol's HTTP paths: health, server and model metadata, inference, and Triton's statistics, model
 * configuration and model repository extensions.
 *
 *   GET  /v2/health/live | /v2/health/ready | /v2
 *   GET  /v2/models/NAME[/versions/VERSION]          model metadata
 *   GET  /v2/models/NAME[/versions/VERSION]/ready
 *   GET  /v2/models/NAME[/versions/VERSION]/config   Triton's model configuration, as JSON
 *   POST /v2/models/NAME[/versions/VERSION]/infer
 *   GET  /v2/models[/NAME[/versions/VERSION]]/stats
 *   POST /v2/repository/index
 *   POST /v2/repository/models/NAME/load | /unload
 *
 * and the paths of Triton's extensions this server does not have, each refused with what to use instead:
 *   /v2/systemsharedmemory[/region/R]/status|register|unregister, /v2/cudasharedmemory/..., /v2/trace/setting,
 *   /v2/models/NAME/trace/setting, /v2/logging
 */
export type Route =
  | { kind: 'live' | 'ready' | 'server' | 'index' }
  | { kind: 'unsupported'; extension: UnsupportedExtension }
  | { kind: 'load' | 'unload'; name: string }
  | { kind: 'model' | 'modelReady' | 'modelConfig' | 'infer' | 'stats'; name: string | undefined; version: string | undefined };

/** The method each kind of route answers. */
export const methodOf = (route: Route): 'GET' | 'POST' | undefined =>
  route.kind === 'unsupported' ? undefined : route.kind === 'infer' || route.kind === 'index' || route.kind === 'load' || route.kind === 'unload' ? 'POST' : 'GET';

const endings = { ready: 'modelReady', config: 'modelConfig', infer: 'infer', stats: 'stats' } as const;

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

function repositoryRoute(path: string): Route | undefined {
  if (path === '/v2/repository/index') return { kind: 'index' };
  const parts = path.slice('/v2/repository/models/'.length).split('/');
  if (!path.startsWith('/v2/repository/models/') || parts.length !== 2 || (parts[1] !== 'load' && parts[1] !== 'unload')) return undefined;
  const name = decode(parts[0]!);
  return name === undefined || name === '' ? undefined : { kind: parts[1], name };
}

/** The extension of Triton's that a path belongs to, when this server does not have it. */
function unsupportedRoute(path: string): Route | undefined {
  const extension: UnsupportedExtension | undefined = path.startsWith('/v2/systemsharedmemory/')
    ? 'systemSharedMemory'
    : path.startsWith('/v2/cudasharedmemory/')
      ? 'cudaSharedMemory'
      : path === '/v2/trace/setting' || (path.startsWith('/v2/models/') && path.endsWith('/trace/setting'))
        ? 'trace'
        : path === '/v2/logging'
          ? 'logging'
          : undefined;
  return extension === undefined ? undefined : { kind: 'unsupported', extension };
}

/** The route of a request's path (the part of its URL before any `?`), or undefined for no route. */
export function routeOf(path: string): Route | undefined {
  const unsupported = unsupportedRoute(path);
  if (unsupported !== undefined) return unsupported;
  if (path === '/v2/health/live') return { kind: 'live' };
  if (path === '/v2/health/ready') return { kind: 'ready' };
  if (path === '/v2' || path === '/v2/') return { kind: 'server' };
  if (path === '/v2/models/stats') return { kind: 'stats', name: undefined, version: undefined };
  if (path.startsWith('/v2/repository/')) return repositoryRoute(path);
  if (!path.startsWith('/v2/models/')) return undefined;
  const parts = path.slice('/v2/models/'.length).split('/');
  const last = parts[parts.length - 1]!;
  const kind = Object.hasOwn(endings, last) && parts.length > 1 ? endings[last as keyof typeof endings] : 'model';
  if (kind !== 'model') parts.pop();
  if (parts.length !== 1 && !(parts.length === 3 && parts[1] === 'versions')) return undefined;
  const name = decode(parts[0]!);
  const version = parts.length === 3 ? decode(parts[2]!) : undefined;
  if (name === undefined || name === '' || version === '') return undefined;
  return { kind, name, version };
}
