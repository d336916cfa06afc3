/**
 * The calls of `inference.GRPCInferenceService`, each answered through the serving core: health, metadata,
 * configuration, statistics, the repository extension, and inference (ModelInfer, and ModelStreamInfer, whose
 * errors go in each answer's `error_message`, as Triton's do). A call whose deadline passes, or that its client
 * cancels, aborts its run in the core.
 */
import type { handleBidiStreamingCall, handleUnaryCall, ServerDuplexStream, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { failureReasonOf, ServeError, serveErrorOf, type LoadOverride, type ServingCore } from '../core/index.js';
import { decodeModelInferRequest, encodeModelInferResponse } from './infer-codec.js';
import type { ModelInferRequest, ModelInferResponse, ModelRepositoryParameter, ModelRequest, ModelStreamInferResponse, RepositoryIndexRequest, RepositoryModelRequest } from './messages.js';
import { statusOfError } from './status.js';
import { unsupportedCalls } from './unsupported.js';

/** A unary call answered by `answer`, which may throw (or reject with) any error: the core's kind gives the status. */
function unary<Request, Response>(answer: (request: Request) => Response | Promise<Response>): handleUnaryCall<Request, Response> {
  return (call, callback) => {
    new Promise<Response>((resolve) => resolve(answer(call.request))).then(
      (response) => callback(null, response),
      (error: unknown) => callback(statusOfError(error)),
    );
  };
}

/** Triton's version field: empty for the model's latest. */
const versionOf = (version: string): string | undefined => (version === '' ? undefined : version);

function checkRepositoryName(name: string): void {
  if (name !== '') throw new ServeError('unsupported', "'repository_name' specification is not supported");
}

/** A load request's parameters: `config` (string_param) and `file:PATH` (bytes_param), as Triton takes them. */
function loadOverride(parameters: Record<string, ModelRepositoryParameter>): LoadOverride | undefined {
  const override: LoadOverride = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (key === 'config') {
      if (value.parameter_choice !== 'string_param') throw new ServeError('invalid', `invalid value type for load parameter '${key}', expected string_param.`);
      override.config = value.string_param!;
    } else if (key.startsWith('file:')) {
      if (value.parameter_choice !== 'bytes_param') throw new ServeError('invalid', `invalid value type for load parameter '${key}', expected bytes_param.`);
      (override.files ??= {})[key.slice('file:'.length)] = value.bytes_param!;
    } else throw new ServeError('invalid', `unrecognized load parameter '${key}'.`);
  }
  return override.config === undefined && override.files === undefined ? undefined : override;
}

/** The cancellation of one inference call: when its client cancels it or its deadline passes. */
function callSignal(call: ServerUnaryCall<unknown, unknown> | ServerDuplexStream<unknown, unknown>): { signal: AbortSignal; deadlinePassed: () => boolean; dispose: () => void } {
  const controller = new AbortController();
  const onCancelled = (): void => controller.abort(new ServeError('unavailable', 'the client cancelled the call'));
  call.once('cancelled', onCancelled);
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(at)) timer = setTimeout(() => controller.abort(new ServeError('deadline', 'Deadline Exceeded')), Math.max(0, at - Date.now()));
  return {
    signal: controller.signal,
    deadlinePassed: () => Number.isFinite(at) && Date.now() >= at,
    dispose: () => {
      clearTimeout(timer);
      call.off('cancelled', onCancelled);
    },
  };
}

/**
 * Answers one inference request through the core: accept, look the model up, decode, run, encode. Rejects with
 * the error to answer; the failure is recorded in the model's statistics first.
 */
async function inferOnce(core: ServingCore, request: ModelInferRequest, signal: AbortSignal, cancelled: () => boolean): Promise<ModelInferResponse> {
  const started = performance.now();
  core.accept();
  let model: ReturnType<ServingCore['lookup']> | undefined;
  try {
    model = core.lookup(request.model_name, versionOf(request.model_version));
    const decoded = decodeModelInferRequest(request, model.signature);
    const outputs = await core.infer(model, decoded, signal, started);
    return encodeModelInferResponse(model.name, model.version, decoded.id, outputs);
  } catch (error) {
    const serveError = serveErrorOf(error);
    if (model !== undefined) core.recordFailure(model, cancelled() ? 'CANCELED' : failureReasonOf(serveError.kind), started);
    throw serveError;
  } finally {
    core.finish();
  }
}

function modelInfer(core: ServingCore): handleUnaryCall<ModelInferRequest, ModelInferResponse> {
  return (call, callback) => {
    const cancel = callSignal(call);
    inferOnce(core, call.request, cancel.signal, () => call.cancelled && !cancel.deadlinePassed())
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(statusOfError(error)),
      )
      .finally(cancel.dispose);
  };
}

/** Each request of the stream answered as it finishes (matched by `id`); the stream ends once all are answered. */
function modelStreamInfer(core: ServingCore): handleBidiStreamingCall<ModelInferRequest, ModelStreamInferResponse> {
  return (call) => {
    const cancel = callSignal(call);
    let pending = 0;
    let ended = false;
    const endIfDone = (): void => {
      if (ended && pending === 0) {
        cancel.dispose();
        call.end();
      }
    };
    call.on('data', (request: ModelInferRequest) => {
      pending++;
      inferOnce(core, request, cancel.signal, () => call.cancelled && !cancel.deadlinePassed())
        .then(
          (response): ModelStreamInferResponse => ({ error_message: '', infer_response: response }),
          (error: unknown): ModelStreamInferResponse => ({ error_message: serveErrorOf(error).message, infer_response: null }),
        )
        .then((answer) => {
          if (!call.cancelled && !call.destroyed) call.write(answer);
          pending--;
          endIfDone();
        });
    });
    call.on('end', () => {
      ended = true;
      endIfDone();
    });
    call.on('error', () => cancel.dispose());
  };
}

/** Every call of GRPCInferenceService on `core`. */
export function inferenceCalls(core: ServingCore): UntypedServiceImplementation {
  return {
    ServerLive: unary(() => ({ live: core.live })),
    ServerReady: unary(() => ({ ready: core.ready })),
    ModelReady: unary((request: ModelRequest) => ({ ready: core.modelReady(request.name, versionOf(request.version)) })),
    ServerMetadata: unary(() => core.serverMetadata),
    ModelMetadata: unary((request: ModelRequest) => JSON.parse(core.modelMetadata(request.name, versionOf(request.version))) as unknown),
    ModelConfig: unary((request: ModelRequest) => ({ config: JSON.parse(core.modelConfig(request.name, versionOf(request.version))) as unknown })),
    ModelStatistics: unary((request: ModelRequest) => core.statistics(request.name === '' ? undefined : request.name, versionOf(request.version))),
    RepositoryIndex: unary(async (request: RepositoryIndexRequest) => {
      checkRepositoryName(request.repository_name);
      return { models: await core.index(request.ready) };
    }),
    RepositoryModelLoad: unary(async (request: RepositoryModelRequest) => {
      checkRepositoryName(request.repository_name);
      await core.load(request.model_name, loadOverride(request.parameters));
      return {};
    }),
    RepositoryModelUnload: unary(async (request: RepositoryModelRequest) => {
      checkRepositoryName(request.repository_name);
      const dependents = request.parameters['unload_dependents'];
      if (dependents !== undefined && dependents.parameter_choice !== 'bool_param') throw new ServeError('invalid', "invalid value type for 'unload_dependents' parameter, expected bool_param.");
      await core.unload(request.model_name);
      return {};
    }),
    ModelInfer: modelInfer(core),
    ModelStreamInfer: modelStreamInfer(core),
    ...unsupportedCalls,
  };
}
