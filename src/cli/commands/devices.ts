import type { Argv, CommandModule } from 'yargs';
import { formatMemory, type GpuInventory } from '../../runtime/gpu/gpus.js';
import type { MachineReport } from '../../runtime/gpu/machine.js';
import type { CudaProviderStatus, TensorrtProviderStatus } from '../../runtime/gpu/providers.js';
import { EXIT_VERIFY_FAILED } from '../exit.js';
import { devicesLabel, jsonOption, type PlacementArgs } from '../options.js';
import { parseDevices, parseGpus } from '../parse.js';
import { gpuDevices, isDevice } from '../../transform/options.js';
import { InputError } from '../../errors.js';

interface DevicesArgs extends PlacementArgs {
  json: boolean;
}

function gpuLines(gpus: GpuInventory): string[] {
  const from = gpus.source === 'nvidia-smi' ? 'nvidia-smi' : "the driver's files";
  const driver = gpus.driver === undefined ? '' : `, driver ${gpus.driver}`;
  const lines: string[] = [];
  if (!gpus.counted) lines.push(`GPUs: none found: ${gpus.notes[0] ?? 'nothing could be read'}`);
  else if (gpus.gpus.length === 0) lines.push(`GPUs: none that CUDA can see (read from ${from}${driver})`);
  else {
    lines.push(`GPUs: ${gpus.gpus.length}, from ${from}${driver}, numbered as CUDA numbers them in this process:`);
    for (const gpu of gpus.gpus) {
      const memory = formatMemory(gpu.memoryMiB) ?? 'memory unknown';
      lines.push(`  cuda:${gpu.index}  ${gpu.name}, ${memory} (${gpu.memoryMiB === undefined ? '?' : gpu.memoryMiB} MiB), PCI ${gpu.pciBusId}${gpu.uuid === undefined ? '' : `, ${gpu.uuid}`}, nvidia-smi index ${gpu.smiIndex}`);
    }
  }
  if (gpus.counted) {
    const order = process.env['CUDA_DEVICE_ORDER'];
    const orderText = order === undefined ? `CUDA_DEVICE_ORDER unset (${gpus.order})` : `CUDA_DEVICE_ORDER=${order} (${gpus.order})`;
    const visible = gpus.visibleDevices === undefined ? 'CUDA_VISIBLE_DEVICES unset' : `CUDA_VISIBLE_DEVICES=${gpus.visibleDevices}${gpus.hidden > 0 ? ` (hides ${gpus.hidden})` : ''}`;
    const same = gpus.order === 'PCI_BUS_ID' ? "nvidia-smi's PCI bus order" : gpus.orderCertain ? "the same as nvidia-smi's PCI bus order for GPUs of one model" : 'see the note';
    lines.push(`  numbering: ${orderText}: ${same}; ${visible}`);
  }
  for (const note of gpus.counted ? gpus.notes : gpus.notes.slice(1)) lines.push(`  note: ${note}`);
  return lines;
}

function providerLines(provider: CudaProviderStatus): string[] {
  const runs = `onnxruntime-node ${provider.onnxruntimeNode}${provider.onnxruntime === undefined ? '' : `, onnxruntime ${provider.onnxruntime}`}`;
  const lines = [`CUDA provider of ${runs}, in ${provider.folder}:`];
  if (!provider.installed) lines.push(`  installed: no: ${provider.installProblem!.replace(/^the CUDA execution provider is not installed: /, '')}`);
  else {
    lines.push(`  installed: yes`);
    lines.push(`  loads: ${provider.loads === true ? 'yes' : `no: ${provider.loadProblem}`}`);
    const cuda = provider.cudaLibraries.length === 0 ? '' : `; links ${provider.cudaLibraries.join(', ')}`;
    lines.push(`  built for: onnxruntime ${provider.builtForOnnxruntime ?? 'unknown (the library records no version)'}${cuda}`);
    if (provider.versionProblem !== undefined) lines.push(`  version: ${provider.versionProblem}`);
    if (provider.cudnn !== undefined) lines.push(`  cuDNN: ${provider.cudnn.found ? `${provider.cudnn.library} found` : provider.cudnn.problem}`);
  }
  lines.push(`  CUDA provider options: ${provider.options}`);
  return lines;
}

function tensorrtLines(provider: TensorrtProviderStatus): string[] {
  const lines = [`TensorRT provider, in ${provider.folder}:`];
  if (!provider.installed) lines.push(`  installed: no: ${provider.installProblem!.replace(/^the TensorRT execution provider is not installed: /, '')}`);
  else {
    lines.push('  installed: yes');
    lines.push(`  loads: ${provider.loads === true ? 'yes' : `no: ${provider.loadProblem}`}`);
  }
  lines.push(`  TensorRT provider options: ${provider.options}`);
  return lines;
}

/** The GPU providers that are installed here, by name. */
function installedProviders(report: MachineReport): string[] {
  return [...(report.cudaProvider.installed ? ['CUDA'] : []), ...(report.tensorrtProvider.installed ? ['TensorRT'] : [])];
}

/** The report as JSON: the GPU list first, then how it was read; the provider with its first problem. */
function json(report: MachineReport): unknown {
  const { gpus: inventory, cudaProvider: provider, tensorrtProvider: tensorrt } = report;
  const { gpus, ...discovery } = inventory;
  const problem = provider.installProblem ?? provider.loadProblem ?? (provider.cudnn?.found === false ? provider.cudnn.problem : undefined) ?? provider.versionProblem ?? null;
  return {
    gpus: gpus.map((g) => ({ device: `cuda:${g.index}`, ...g })),
    gpuDiscovery: discovery,
    installedProviders: installedProviders(report),
    cudaProvider: { ...provider, problem },
    tensorrtProvider: { ...tensorrt, problem: tensorrt.installProblem ?? tensorrt.loadProblem ?? null },
    cpu: report.cpu,
    check: report.check ?? null,
  };
}

function describe(report: MachineReport): string {
  const { cpu, check } = report;
  const installed = installedProviders(report);
  const lines = [
    ...gpuLines(report.gpus),
    ...providerLines(report.cudaProvider),
    ...tensorrtLines(report.tensorrtProvider),
    `providers installed: ${installed.length === 0 ? 'none for GPUs (every device runs on the CPU)' : installed.join(', ')}`,
    `CPU: ${cpu.model}, ${cpu.cores} cores (${cpu.available} available to this process)`,
  ];
  if (check !== undefined) {
    const named = check.devices.length === 0 ? '' : ` (${check.devices.join(', ')})`;
    if (check.ok) lines.push(`check ${check.asked}${named}: usable${check.tried.length === 0 ? '' : `; a session was created and run on ${check.tried.join(', ')}`}`);
    else {
      lines.push(`check ${check.asked}${named}: not usable:`);
      for (const p of check.problems) lines.push(`  ${p.devices.length === 0 ? '' : `${p.devices.join(', ')}: `}${p.problem}`);
    }
  }
  return lines.join('\n');
}

/** The devices to check: `all`, or a list; malformed device names are usage errors. */
function devicesToCheck(args: DevicesArgs): string[] | 'all' | undefined {
  if (args.gpus !== undefined && args.devices !== undefined) throw new InputError('give exactly one of --gpus N|all or --devices LIST');
  if (args.gpus !== undefined) {
    const gpus = parseGpus(args.gpus);
    return gpus === 'all' ? 'all' : gpuDevices(gpus);
  }
  const devices = parseDevices(args.devices);
  const bad = devices?.find((d) => !isDevice(d));
  if (bad !== undefined) throw new InputError(`--devices: '${bad}' is not a device; use cuda:K or cpu`);
  return devices;
}

export const devicesCommand: CommandModule<object, DevicesArgs> = {
  command: 'devices',
  describe: 'What this machine can run on: its GPUs as CUDA numbers them, the CUDA and TensorRT providers (installed, loads, built for; which options reach onnxruntime), the CPU. With --gpus or --devices: check that those can be used (exit 1 otherwise)',
  builder: (yargs) =>
    jsonOption(yargs as Argv<object>)
      .option('gpus', { type: 'string', describe: "check cuda:0 .. cuda:N-1 (or 'all': every GPU found)" })
      .option('devices', { type: 'string', array: true, describe: 'check these devices, e.g. cuda:0,cuda:1 or cpu (repeatable)' })
      .example('$0 devices', 'list the GPUs, the CUDA and TensorRT providers and the CPU')
      .example('$0 devices --gpus 2', 'a deployment preflight: exit 0 when cuda:0 and cuda:1 can run a session, else 1 with each problem and its fix') as unknown as Argv<DevicesArgs>,
  handler: async (args) => {
    const devices = devicesToCheck(args);
    const { machineReport } = await import('../../runtime/gpu/machine.js'); // loads onnxruntime only for this command
    const report = await machineReport(devices === undefined ? undefined : { asked: devicesLabel(args), devices });
    process.stdout.write(args.json ? `${JSON.stringify(json(report), null, 2)}\n` : `${describe(report)}\n`);
    if (report.check !== undefined && !report.check.ok) process.exitCode = EXIT_VERIFY_FAILED;
  },
};
