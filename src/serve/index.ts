/** The Open Inference Protocol server, as a library: `startServer(options)`, and signal handling for a process. */
export { startServer, DEFAULT_DRAIN_MS, DEFAULT_MAX_BODY_BYTES, DEFAULT_METRICS_PORT, DEFAULT_PORT, DEFAULT_POLL_SECS, type InferenceBackend, type InferenceServer, type ServeOptions, type ServedModelInfo, type SkippedModel } from './server.js';
export { closeOnSignals } from './signals.js';
export { DEFAULT_GRPC_PORT } from './grpc/endpoint.js';
