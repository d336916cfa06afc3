import type { Argv, CommandModule } from 'yargs';
import { InputError } from '../../errors.js';
import { DEFAULT_REPOSITORY, writeTritonEntry, type TritonEntryResult } from '../../triton/repository.js';
import { refusePerDeviceOptions } from '../../triton/cuda-parameters.js';
import { devicesFromArgs, jsonOption, missingDevices, modelArgument, placementOptions, providerOptions, providerOptionsFromArgs, type PlacementArgs, type ProviderArgs } from '../options.js';
import { parseAxes, parseCombine, parseWeights } from '../parse.js';

interface TritonArgs extends PlacementArgs, ProviderArgs {
  model: string;
  repo: string;
  name?: string;
  'max-batch'?: number;
  'max-queue-delay-us'?: number;
  'preferred-batch'?: string[];
  kserve?: string;
  'storage-uri'?: string;
  force: boolean;
  json: boolean;
}

function parseSizes(option: string, values: string[] | undefined): number[] | undefined {
  if (values === undefined) return undefined;
  return values.flatMap((v) => v.split(',')).map((part) => {
    if (!/^\s*\d+\s*$/.test(part)) throw new InputError(`--${option} ${values.join(',')}: each size must be a whole number`);
    return Number(part);
  });
}

function describe(result: TritonEntryResult, input: string): string {
  const { report } = result;
  const lines = [`${input} -> ${result.entry}${result.replaced ? ' (replaced)' : ''}: ${result.files.join(', ')}`];
  lines.push(`batching: max_batch_size ${report.maxBatchSize}: ${report.batching.reason}`);
  if (report.dynamicBatching !== null) {
    const preferred = report.dynamicBatching.preferredBatchSize;
    lines.push(`dynamic batching: max queue delay ${report.dynamicBatching.maxQueueDelayMicroseconds} us${preferred.length === 0 ? '' : `, preferred batch sizes ${preferred.join(', ')}`}`);
  }
  const tensor = (kind: string, t: TritonEntryResult['report']['inputs'][number]): string => {
    const batch = t.axis === null ? `no batch axis: ${t.reason}` : `batch on axis ${t.axis}: ${t.reason}`;
    return `${kind} ${t.name}: ${t.dataType} dims [${t.dims.join(', ')}]${t.reshape === undefined ? '' : ` reshaped to [${t.reshape.join(', ')}]`} (${batch})`;
  };
  for (const t of report.inputs) lines.push(tensor('input ', t));
  for (const t of report.outputs) lines.push(tensor('output', t));
  const groups = report.instanceGroups.map((g) => `${g.count} on ${g.kind === 'KIND_CPU' ? 'the CPU' : `GPU ${g.gpus.join(', ')}`}`);
  lines.push(`instances: ${groups.join(', ')}`);
  const parameters = Object.entries(report.parameters);
  if (parameters.length > 0) lines.push(`parameters (CUDA, every GPU instance): ${parameters.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const accelerator of report.gpuExecutionAccelerators) {
    const options = Object.entries(accelerator.parameters);
    const name = accelerator.name === 'tensorrt' ? 'TensorRT' : 'CUDA';
    lines.push(`accelerator ${accelerator.name} (${name}, every GPU instance)${options.length === 0 ? '' : `: ${options.map(([k, v]) => `${k} ${v}`).join(', ')}`}`);
  }
  if (result.kserve !== null) {
    const gpus = result.kserve.gpus === 0 ? 'no GPU' : `${result.kserve.gpus} GPU${result.kserve.gpus === 1 ? '' : 's'}`;
    lines.push(`kserve: ${result.kserve.file}: InferenceService ${result.kserve.serviceName}, ${gpus} per pod`);
  }
  return lines.join('\n');
}

export const tritonCommand: CommandModule<object, TritonArgs> = {
  command: 'triton <model>',
  describe: 'Write a Triton Inference Server model-repository entry for MODEL (config.pbtxt + 1/model.onnx), and a KServe manifest',
  builder: (yargs) =>
    providerOptions(placementOptions(jsonOption(modelArgument(yargs as Argv<object>))))
      .option('repo', { type: 'string', default: DEFAULT_REPOSITORY, describe: 'the model repository folder (created when missing)' })
      .option('name', { type: 'string', describe: "the model's folder and name in the repository (default: the file's stem)" })
      .option('max-batch', { type: 'number', describe: `max_batch_size when the model can take Triton's batching (default 64)` })
      .option('max-queue-delay-us', { type: 'number', describe: "the dynamic batcher's max_queue_delay_microseconds (default 0)" })
      .option('preferred-batch', { type: 'string', array: true, describe: "the dynamic batcher's preferred_batch_size, e.g. 8,16" })
      .option('kserve', { type: 'string', describe: 'also write a KServe InferenceService manifest to this file (needs --storage-uri)' })
      .option('storage-uri', { type: 'string', describe: 'where KServe fetches the model repository from, e.g. s3://bucket/model_repository' })
      .option('force', { type: 'boolean', default: false, describe: 'replace an existing entry (and manifest)' })
      .example('$0 triton model.onnx --gpus 2', 'model_repository/model: one instance on each of GPU 0 and GPU 1')
      .example('$0 triton model.onnx --devices cuda:0,cuda:1 --weights 2,1 --max-batch 32 --preferred-batch 8,16', 'two instances on GPU 0, one on GPU 1')
      .example('$0 triton model.onnx --gpus 2 --tensorrt-option trt_fp16_enable=1 --cuda-option gpu_mem_limit=8GiB', 'TensorRT in FP16 on each GPU, CUDA capped at 8 GiB')
      .example('$0 triton model.onnx --gpus 4 --kserve isvc.yaml --storage-uri s3://bucket/model_repository', 'and a KServe manifest: one pod with 4 GPUs per replica') as unknown as Argv<TritonArgs>,
  handler: async (args) => {
    const devices = (await devicesFromArgs(args, true))!;
    refusePerDeviceOptions('--cuda-option', args['cuda-option']);
    refusePerDeviceOptions('--tensorrt-option', args['tensorrt-option']);
    const { cuda, tensorrt } = providerOptionsFromArgs(args);
    // The entry is often written for another machine (a Triton server, a KServe pod): a GPU missing here is a warning.
    const missing = await missingDevices(args, devices);
    const warnings = missing === undefined ? [] : [`${missing}; the entry is written all the same, for a machine that has them`];
    for (const warning of warnings) process.stderr.write(`onnx-parallelize: warning: ${warning}\n`);
    const storageUri = args['storage-uri'];
    if (args.kserve !== undefined && storageUri === undefined) throw new InputError('--kserve needs --storage-uri URI: where KServe fetches the model repository from (e.g. s3://bucket/model_repository)');
    if (args.kserve === undefined && storageUri !== undefined) throw new InputError('--storage-uri goes with --kserve FILE, the manifest it is written into');
    const weights = parseWeights(args.weights);
    const preferredBatch = parseSizes('preferred-batch', args['preferred-batch']);
    const result = await writeTritonEntry(args.model, {
      devices,
      ...(weights === undefined ? {} : { weights }),
      axes: parseAxes(args.axis),
      combine: parseCombine(args.combine),
      repository: args.repo,
      ...(args.name === undefined ? {} : { name: args.name }),
      ...(args['max-batch'] === undefined ? {} : { maxBatch: args['max-batch'] }),
      ...(args['max-queue-delay-us'] === undefined ? {} : { maxQueueDelayUs: args['max-queue-delay-us'] }),
      ...(preferredBatch === undefined ? {} : { preferredBatch }),
      ...(args.kserve === undefined ? {} : { kserve: { file: args.kserve, storageUri: storageUri! } }),
      force: args.force,
      cudaOptions: cuda.all,
      ...(tensorrt.everyDevice ? { tensorrtOptions: tensorrt.all } : {}),
    });
    if (args.json) process.stdout.write(`${JSON.stringify({ entry: result.entry, files: result.files, replaced: result.replaced, kserve: result.kserve, ...result.report, warnings }, null, 2)}\n`);
    else process.stdout.write(`${describe(result, args.model)}\n`);
  },
};
