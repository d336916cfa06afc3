import { statSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { InputError } from '../../errors.js';
import { noteDevices, sessionFromArgs, sessionOptions, type SessionArgs } from '../options.js';

const MODES = ['none', 'explicit', 'poll'] as const;

interface ServeArgs extends SessionArgs {
  model: string[];
  name?: string;
  'model-control-mode': string;
  'load-model'?: string[];
  'repository-poll-secs'?: number;
  'exit-on-error': boolean;
  host: string;
  port: number;
  'metrics-port': number;
  'grpc-port'?: number;
  'allow-grpc': boolean;
  'max-batch'?: number;
  'max-queue-delay-us'?: number;
  'max-queue'?: number;
  'timeout-ms'?: number;
  'max-body-bytes'?: number;
  'drain-ms'?: number;
}

/** A whole number option in [min, max], or a one-line error naming it. */
function wholeNumber(args: ServeArgs, option: keyof ServeArgs & string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = args[option] as number | undefined;
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InputError(`--${option} must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`} (got ${String(value)})`);
  }
  return value;
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve <model..>',
  describe: 'Serve models (.onnx files, Triton model repositories) over HTTP with the Open Inference Protocol (KServe V2), as Triton does, on several devices at once',
  builder: (yargs) =>
    sessionOptions(
      (yargs as Argv<object>).positional('model', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'each an .onnx file (one model) or a Triton model repository folder (NAME/VERSION/model.onnx, NAME/config.pbtxt optional)',
      }),
    )
      .option('name', { type: 'string', describe: "the model's name in the URLs, for one .onnx file (default: the file's stem)" })
      .option('model-control-mode', { type: 'string', default: 'none', describe: 'none: load every model at start; explicit: load --load-model at start, then as POST /v2/repository/models/NAME/load and /unload ask; poll: load every model and reload what changes' })
      .option('load-model', { type: 'string', array: true, describe: 'with --model-control-mode explicit: a model to load at start (repeat it; * for all)' })
      .option('repository-poll-secs', { type: 'number', describe: 'with --model-control-mode poll: seconds between looks at the models for changes (default 15)' })
      .option('exit-on-error', { type: 'boolean', default: true, describe: 'a model that fails to load at start fails the start (--exit-on-error=false: serve the others)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0: every network)' })
      .option('port', { type: 'number', default: 8000, describe: 'HTTP port of the protocol (0: a free port)' })
      .option('metrics-port', { type: 'number', default: 8002, describe: 'HTTP port of the Prometheus metrics at /metrics (0: a free port)' })
      .option('grpc-port', { type: 'number', describe: "gRPC port of the protocol, Triton's GRPCInferenceService (default 8001; a free port with --port 0)" })
      .option('allow-grpc', { type: 'boolean', default: true, describe: 'serve the gRPC endpoint (--allow-grpc=false: HTTP only)' })
      .option('max-batch', { type: 'number', describe: 'most rows the dynamic batcher merges into one run (default: no limit)' })
      .option('max-queue-delay-us', { type: 'number', describe: 'how long a request may wait for others to merge with, in microseconds (default 0)' })
      .option('max-queue', { type: 'number', describe: 'past this many requests waiting, answer 503 with Retry-After (default: no limit)' })
      .option('timeout-ms', { type: 'number', describe: 'answer 504 to a request not done within this many milliseconds (default: no limit)' })
      .option('max-body-bytes', { type: 'number', describe: 'answer 413 to a body over this many bytes (default 64 MiB)' })
      .option('drain-ms', { type: 'number', describe: 'on SIGTERM or SIGINT, how long requests in progress may take (default 30000)' })
      .example('$0 serve model.onnx --devices cpu,cpu', 'serve on two CPU devices at http://127.0.0.1:8000/v2/models/model')
      .example('$0 serve models/ --model-control-mode explicit --load-model resnet', 'a Triton model repository: resnet at start, the others when loaded')
      .example('$0 serve model.parallel.onnx --host 0.0.0.0 --max-queue 256 --timeout-ms 2000', 'a rewritten model on the GPUs it is tagged with') as unknown as Argv<ServeArgs>,
  handler: async (args) => {
    const session = await sessionFromArgs(args);
    const maxBatch = wholeNumber(args, 'max-batch', 1);
    const delayUs = args['max-queue-delay-us'];
    if (delayUs !== undefined && !(Number.isFinite(delayUs) && delayUs >= 0)) throw new InputError(`--max-queue-delay-us must be a number of microseconds >= 0 (got ${String(delayUs)})`);
    const maxQueue = wholeNumber(args, 'max-queue', 0);
    const port = wholeNumber(args, 'port', 0, 65535)!;
    const metricsPort = wholeNumber(args, 'metrics-port', 0, 65535)!;
    const grpcPort = wholeNumber(args, 'grpc-port', 0, 65535);
    if (grpcPort !== undefined && !args['allow-grpc']) throw new InputError('--grpc-port is for the gRPC endpoint, which --allow-grpc=false turns off; give one or the other');
    const timeoutMs = wholeNumber(args, 'timeout-ms', 1);
    const maxBodyBytes = wholeNumber(args, 'max-body-bytes', 1);
    const drainMs = wholeNumber(args, 'drain-ms', 0);
    const pollSecs = wholeNumber(args, 'repository-poll-secs', 1);
    const mode = args['model-control-mode'];
    if (!(MODES as readonly string[]).includes(mode)) throw new InputError(`--model-control-mode must be one of none, explicit, poll (got '${mode}')`);
    const loadModels = args['load-model'];
    if (loadModels !== undefined && mode !== 'explicit') throw new InputError(`--load-model is for --model-control-mode explicit; with ${mode} every model is loaded`);
    if (pollSecs !== undefined && mode !== 'poll') throw new InputError(`--repository-poll-secs is for --model-control-mode poll (got ${mode})`);
    if (args.name !== undefined) {
      if (args.model.length !== 1) throw new InputError('--name names one .onnx file; a repository names its models by their folders');
      const { checkModelName } = await import('../../triton/names.js');
      checkModelName(args.name);
    }
    const { startServer, closeOnSignals, DEFAULT_DRAIN_MS } = await import('../../serve/index.js'); // loads onnxruntime only for this command
    const server = await startServer({
      models: args.model,
      modelControlMode: mode as (typeof MODES)[number],
      ...(loadModels === undefined ? {} : { loadModels }),
      ...(pollSecs === undefined ? {} : { repositoryPollSecs: pollSecs }),
      exitOnError: args['exit-on-error'],
      ...(args.name === undefined ? {} : { name: args.name }),
      session: {
        ...session,
        batching: { ...(maxBatch === undefined ? {} : { maxBatch }), ...(delayUs === undefined ? {} : { maxQueueDelayMs: delayUs / 1000 }) },
        ...(maxQueue === undefined ? {} : { maxQueue }),
      },
      host: args.host,
      port,
      metricsPort,
      ...(args['allow-grpc'] ? (grpcPort === undefined ? {} : { grpcPort }) : { grpcPort: null }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
      ...(drainMs === undefined ? {} : { drainMs }),
    });
    closeOnSignals(
      server,
      (error) => {
        if (error !== undefined) process.stderr.write(`onnx-parallelize: closing failed: ${error instanceof Error ? error.message : String(error)}\n`);
        else process.stdout.write('stopped\n');
        process.exit(error === undefined ? 0 : 1);
      },
      (signal) => {
        const waiting = server.inFlight === 0 ? 'no requests in progress' : `answering ${server.inFlight} request(s) in progress for up to ${drainMs ?? DEFAULT_DRAIN_MS} ms`;
        process.stdout.write(`${signal}: not ready; ${waiting}, then stopping (a second signal stops at once)\n`);
      },
    );
    noteDevices(server.deviceNote);
    for (const { name, reason } of server.skipped) process.stderr.write(`onnx-parallelize: skipped model '${name}': ${reason}\n`);
    for (const note of server.notApplied) process.stderr.write(`onnx-parallelize: ${note}\n`);
    const models = server.models;
    const metrics = `(metrics: ${server.metricsUrl ?? 'none'}; gRPC: ${server.grpcAddress ?? 'none'})`;
    if (models.length === 1 && args.model.length === 1 && statSync(args.model[0]!, { throwIfNoEntry: false })?.isFile() === true) {
      process.stdout.write(`serving model '${server.name}' version ${server.version} on ${server.devices.join(', ')} at ${server.url}/v2/models/${encodeURIComponent(server.name)} ${metrics}\n`);
    } else {
      for (const m of models) process.stdout.write(`model '${m.name}' version ${m.version} on ${m.devices.join(', ')}\n`);
      process.stdout.write(`serving ${models.length} model version(s) at ${server.url}/v2 (model control: ${mode}) ${metrics}\n`);
    }
  },
};
