/**
 * The serving core, shared by every endpoint (HTTP, gRPC): route, decode, run and encode go through it, so that
 * no endpoint holds a second copy of the protocol's logic. An endpoint (an adapter) does only its transport:
 *
 *  - Health and metadata: `core.live`, `core.ready`, `core.serverMetadata` ({name, version, extensions}),
 *    `core.modelReady(name, version?)`, `core.modelMetadata(name, version?)` and `core.modelConfig(name,
 *    version?)` (JSON text, written once per load), `core.statistics(name?, version?)` ({model_stats}).
 *  - Inference, per request:
 *      core.accept()                                 at arrival; throws `unavailable` once closing
 *      const model = core.lookup(name, version?)     Triton's "Request for unknown model: ..." texts (not_found)
 *      const request = { id, feeds, outputs }        decoded with decode.ts: checkInput, then inputFromBytes
 *                                                    (raw bytes) or inputFromValues (value lists); requestedOutputs
 *      core.infer(model, request, signal, started)   no await between lookup and infer; resolves to the outputs
 *                                                    (tensorBytes gives their raw bytes); records the success
 *      on any error: serveErrorOf(error) gives its kind; core.recordFailure(model, reason, started) with
 *      failureReasonOf(kind), or 'CANCELED' when the client went away
 *      core.finish()                                 once answered, whatever happened
 *  - Model control: `core.index(readyOnly?)` ([{name, version?, state?, reason?}]), `core.load(name,
 *    {config?, files?})` (errors start "failed to load 'NAME'"), `core.unload(name)`.
 *  - Errors: every error the core throws is a ServeError whose `kind` the endpoint maps to its status:
 *      invalid 400 / INVALID_ARGUMENT, not_found 404 / NOT_FOUND, unavailable 503 / UNAVAILABLE (with
 *      retryAfterS: Retry-After), deadline 504 / DEADLINE_EXCEEDED, unsupported 501 / UNIMPLEMENTED,
 *      internal 500 / INTERNAL.
 *  - Metrics: `core.metrics` (one Prometheus registry for every model and version).
 *  - Closing: `await core.drain()` (readiness off, new requests `unavailable`, waits for those accepted), then
 *    the endpoint stops listening, then `await core.release()` (every session released).
 */
export { ServingCore, DEFAULT_DRAIN_MS, type CoreOptions, type ModelCatalog, type ModelControlMode, type ModelLoad, type LoadOverride } from './core.js';
export { ServeError, serveErrorOf, failureReasonOf, invalidRequest, type ErrorKind } from './errors.js';
export { checkInput, inputFromBytes, inputFromValues, requestedOutputs, isRecord, InexactInteger, type CheckedInput, type Feeds, type InferRequest, type InputHeader, type RequestedOutput } from './decode.js';
export { tensorBytes, type ResponseOutput } from './encode.js';
export { unsupportedExtension, type UnsupportedExtension } from './unsupported.js';
export { datatypeOfOrtType, isDatatype, elementBytes, type Datatype } from './datatypes.js';
export type { FailureReason } from './metrics.js';
export type { IndexEntry } from './model-table.js';
export { ServedVersion, type InferenceBackend, type VersionSpec, type VersionState } from './served-version.js';
export type { ModelSignature, TensorSignature } from './signature.js';
