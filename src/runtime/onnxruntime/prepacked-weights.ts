/**
 * An OrtPrepackedWeightsContainer: sessions made with the same container keep one pre-packed form of each shared
 * initializer (one given to every session with AddInitializer) instead of one each. The container must outlive
 * every session made with it.
 */
import { ortApi, type Handle } from './library.js';
import { check, Out } from './status.js';

export function createPrepackedWeightsContainer(): Handle {
  const api = ortApi();
  const out = new Out();
  check(api, api.CreatePrepackedWeightsContainer(out.cell));
  return out.value;
}

export function releasePrepackedWeightsContainer(container: Handle): void {
  if (container) ortApi().ReleasePrepackedWeightsContainer(container);
}
