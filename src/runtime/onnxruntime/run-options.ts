/** OrtRunOptions of one run: the handle through which that run, and only it, can be terminated while inside onnxruntime. */
import { ortApi, type Handle } from './library.js';
import { check, Out } from './status.js';

export class RunOptions {
  readonly handle: Handle;
  #terminated = false;
  #released = false;

  constructor() {
    const api = ortApi();
    const out = new Out();
    check(api, api.CreateRunOptions(out.cell));
    this.handle = out.value;
  }

  /** Makes the run return early, at onnxruntime's next check (between nodes), with an error. Safe from any thread while the run is in progress. */
  terminate(): void {
    if (this.#terminated || this.#released) return;
    this.#terminated = true;
    const api = ortApi();
    check(api, api.RunOptionsSetTerminate(this.handle));
  }

  /** A run config entry (onnxruntime_run_options_config_keys.h), such as `gpu_graph_id`. */
  set(key: string, value: string): void {
    const api = ortApi();
    check(api, api.AddRunConfigEntry(this.handle, key, value));
  }

  get terminated(): boolean {
    return this.#terminated;
  }

  /** After this, terminate() does nothing: the handle is gone. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    ortApi().ReleaseRunOptions(this.handle);
  }
}
