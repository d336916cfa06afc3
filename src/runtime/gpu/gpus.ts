/**
 * GPU discovery: the NVIDIA GPUs of this machine, numbered as CUDA numbers them in this process.
 *
 * The list comes from `nvidia-smi` when it runs, else from the driver's files (/proc/driver/nvidia/gpus/<bus>/
 * information, which give no memory size). nvidia-smi numbers GPUs in PCI bus order; CUDA numbers them in
 * CUDA_DEVICE_ORDER: PCI_BUS_ID is the same order, while CUDA's default, FASTEST_FIRST, puts the GPU it guesses is
 * fastest first. On a machine whose GPUs are all the same model both orders agree in practice; with different
 * models the list is kept in PCI bus order and flagged as possibly differing from CUDA's (set
 * CUDA_DEVICE_ORDER=PCI_BUS_ID to make it exact). CUDA_VISIBLE_DEVICES is then applied as CUDA applies it:
 * entries are indices into that order or GPU UUIDs (a unique prefix is enough), read up to the first entry that
 * names no GPU; `-1` or an empty value hides every GPU.
 *
 * Parsing and numbering are pure functions of the captured text, so they are tested without a GPU.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ArgumentError } from '../../errors.js';
import { checkDeviceOptions, type DeviceOptions } from './providers.js';

export interface GpuInfo {
  /** CUDA's index of the GPU in this process: the K of `cuda:K`. */
  index: number;
  name: string;
  /** Total memory in MiB, when known (nvidia-smi gives it, the driver's files do not). */
  memoryMiB?: number;
  /** The NVIDIA driver's version. */
  driver?: string;
  /** PCI bus id, as `0000:18:00.0`. */
  pciBusId: string;
  /** `GPU-...`, when known. */
  uuid?: string;
  /** nvidia-smi's index of the GPU (PCI bus order, all GPUs of the machine). */
  smiIndex: number;
}

export type GpuSource = 'nvidia-smi' | 'driver' | 'none';

export interface GpuInventory {
  /** Where the list was read from; 'none' when neither nvidia-smi nor the driver's files could be read. */
  source: GpuSource;
  /** Whether `gpus` is what CUDA will see; false when nothing could be read (then no device is refused). */
  counted: boolean;
  /** The GPUs CUDA sees in this process, by CUDA index. */
  gpus: GpuInfo[];
  /** How many GPUs of the machine CUDA_VISIBLE_DEVICES hides. */
  hidden: number;
  driver?: string;
  /** CUDA_DEVICE_ORDER as CUDA reads it. */
  order: 'FASTEST_FIRST' | 'PCI_BUS_ID';
  /** False when CUDA's default order may differ from the PCI bus order used here (GPUs of different models). */
  orderCertain: boolean;
  /** CUDA_VISIBLE_DEVICES, when set. */
  visibleDevices?: string;
  /** What was found out on the way: why nothing was read, entries of CUDA_VISIBLE_DEVICES that CUDA ignores, ... */
  notes: string[];
}

/** A GPU as read, before CUDA's numbering. */
export interface RawGpu {
  smiIndex: number;
  name: string;
  memoryMiB?: number;
  driver?: string;
  pciBusId: string;
  uuid?: string;
}

/** The nvidia-smi query this module runs (and that a stand-in nvidia-smi must answer). */
export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.total,driver_version,pci.bus_id,uuid', '--format=csv,noheader,nounits'];

/** A value of nvidia-smi's CSV, or undefined for `[N/A]`, `[Not Supported]` and the like. */
function csvValue(text: string | undefined): string | undefined {
  const value = text?.trim();
  return value === undefined || value === '' || /^\[.*\]$/.test(value) || value === 'N/A' ? undefined : value;
}

/** `00000000:18:00.0` (nvidia-smi) or `0000:18:00.0` (the driver's folder names) as `0000:18:00.0`. */
export function normalizeBusId(busId: string): string {
  const match = /^([0-9a-f]+):([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(busId.trim());
  if (match === null) return busId.trim().toLowerCase();
  const [, domain, bus, device, fn] = match;
  const hex = (value: string, width: number): string => parseInt(value, 16).toString(16).padStart(width, '0');
  return `${hex(domain!, 4)}:${hex(bus!, 2)}:${hex(device!, 2)}.${fn}`;
}

/** Orders PCI bus ids numerically (domain, bus, device, function). */
function busOrder(a: string, b: string): number {
  const parts = (id: string): number[] => id.split(/[:.]/).map((p) => parseInt(p, 16));
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0 && !Number.isNaN(d)) return d;
  }
  return a.localeCompare(b);
}

/**
 * The GPUs in the output of `nvidia-smi` with NVIDIA_SMI_ARGS: one line per GPU,
 * `0, NVIDIA H200, 143771, 580.65.06, 00000000:18:00.0, GPU-...`.
 */
export function parseNvidiaSmi(text: string): RawGpu[] {
  const gpus: RawGpu[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const fields = line.split(',');
    if (fields.length < 6 || !/^\s*\d+\s*$/.test(fields[0]!)) continue;
    // A name holding a comma spans several fields: the last four are always memory, driver, bus id and uuid.
    const tail = fields.slice(-4);
    const name = csvValue(fields.slice(1, -4).join(',')) ?? 'unknown NVIDIA GPU';
    const memory = csvValue(tail[0]);
    const memoryMiB = memory !== undefined && /^\d+(\.\d+)?$/.test(memory) ? Math.round(Number(memory)) : undefined;
    const driver = csvValue(tail[1]);
    const uuid = csvValue(tail[3]);
    gpus.push({
      smiIndex: Number(fields[0]),
      name,
      ...(memoryMiB === undefined ? {} : { memoryMiB }),
      ...(driver === undefined ? {} : { driver }),
      pciBusId: normalizeBusId(csvValue(tail[2]) ?? `unknown-${fields[0]!.trim()}`),
      ...(uuid === undefined ? {} : { uuid }),
    });
  }
  return gpus;
}

/** The fields of a driver `information` file (`Model: \t\t NVIDIA H200`, `GPU UUID: ...`, `Bus Location: ...`). */
export function parseDriverInformation(text: string): { name?: string; uuid?: string; pciBusId?: string } {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const name = fields.get('model');
  const uuid = fields.get('gpu uuid');
  const bus = fields.get('bus location');
  return {
    ...(name === undefined || name === '' ? {} : { name }),
    ...(uuid === undefined || uuid === '' ? {} : { uuid }),
    ...(bus === undefined || bus === '' ? {} : { pciBusId: normalizeBusId(bus) }),
  };
}

/**
 * The driver's version in /proc/driver/nvidia/version: `NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  ...`
 * or, for the open kernel modules, `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build ...`.
 */
export function parseDriverVersion(text: string): string | undefined {
  return /Kernel Module(?: for \S+)?\s+(\d+\.[\d.]+)/.exec(text)?.[1];
}

/** `CUDA_DEVICE_ORDER` as CUDA reads it: PCI_BUS_ID, or FASTEST_FIRST for anything else. */
export function cudaDeviceOrder(env: NodeJS.ProcessEnv): 'FASTEST_FIRST' | 'PCI_BUS_ID' {
  return env['CUDA_DEVICE_ORDER'] === 'PCI_BUS_ID' ? 'PCI_BUS_ID' : 'FASTEST_FIRST';
}

/**
 * CUDA's numbering of `raw` (every GPU of the machine) in an environment: order, then CUDA_VISIBLE_DEVICES.
 * `source` and `driver` are carried into the inventory.
 */
export function numberGpus(raw: RawGpu[], env: NodeJS.ProcessEnv, source: GpuSource, driver?: string): GpuInventory {
  const notes: string[] = [];
  const order = cudaDeviceOrder(env);
  const byBus = [...raw].sort((a, b) => busOrder(a.pciBusId, b.pciBusId));
  const models = new Set(byBus.map((g) => g.name));
  const orderCertain = order === 'PCI_BUS_ID' || models.size <= 1;
  if (!orderCertain) {
    notes.push(
      `CUDA_DEVICE_ORDER is not PCI_BUS_ID and the GPUs differ (${[...models].join(', ')}): CUDA numbers the GPU it guesses fastest first, which may differ from this list (nvidia-smi's PCI bus order); set CUDA_DEVICE_ORDER=PCI_BUS_ID to make both agree`,
    );
  }
  const visibleDevices = env['CUDA_VISIBLE_DEVICES'];
  let visible = byBus;
  if (visibleDevices !== undefined) {
    visible = [];
    const entries = visibleDevices.trim() === '' ? [] : visibleDevices.split(',').map((e) => e.trim());
    for (const [i, entry] of entries.entries()) {
      const gpu = visibleEntry(entry, byBus);
      const why = gpu === undefined ? 'names no GPU of this machine' : visible.includes(gpu) ? 'repeats a GPU' : undefined;
      if (why !== undefined) {
        if (i > 0) notes.push(`CUDA_VISIBLE_DEVICES=${visibleDevices}: '${entry}' ${why}, so CUDA ignores ${i === entries.length - 1 ? 'it' : `it and every entry after it`}`);
        break;
      }
      visible.push(gpu!);
    }
    if (visible.length === 0 && byBus.length > 0) notes.push(`CUDA_VISIBLE_DEVICES=${visibleDevices} hides every GPU from CUDA`);
  }
  const gpus = visible.map((g, index) => ({ index, name: g.name, ...withOptional(g), pciBusId: g.pciBusId, smiIndex: g.smiIndex }));
  const driverVersion = driver ?? raw.find((g) => g.driver !== undefined)?.driver;
  return {
    source,
    counted: source !== 'none',
    gpus,
    hidden: byBus.length - visible.length,
    ...(driverVersion === undefined ? {} : { driver: driverVersion }),
    order,
    orderCertain,
    ...(visibleDevices === undefined ? {} : { visibleDevices }),
    notes,
  };
}

function withOptional(g: RawGpu): Pick<GpuInfo, 'memoryMiB' | 'driver' | 'uuid'> {
  return {
    ...(g.memoryMiB === undefined ? {} : { memoryMiB: g.memoryMiB }),
    ...(g.driver === undefined ? {} : { driver: g.driver }),
    ...(g.uuid === undefined ? {} : { uuid: g.uuid }),
  };
}

/** The GPU an entry of CUDA_VISIBLE_DEVICES names: an index into CUDA's order, or a UUID (a unique prefix will do). */
function visibleEntry(entry: string, ordered: RawGpu[]): RawGpu | undefined {
  if (/^\d+$/.test(entry)) return ordered[Number(entry)];
  if (!/^GPU-/i.test(entry)) return undefined; // -1, MIG-..., anything else ends the list as it does for CUDA
  const matches = ordered.filter((g) => g.uuid !== undefined && g.uuid.toLowerCase().startsWith(entry.toLowerCase()));
  return matches.length === 1 ? matches[0] : undefined;
}

/** Runs nvidia-smi with `env` (its PATH finds it); resolves to its output, or to why it could not be read. */
function runNvidiaSmi(env: NodeJS.ProcessEnv): Promise<{ text: string } | { problem: string }> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', NVIDIA_SMI_ARGS, { env, timeout: 20_000, encoding: 'utf8', maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error === null) return resolve({ text: stdout });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve({ problem: 'nvidia-smi is not on PATH' });
      const said = `${stdout}\n${stderr}`.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
      resolve({ problem: `nvidia-smi failed${said === undefined ? ` (${error.message.split('\n')[0]})` : `: ${said}`}` });
    });
  });
}

/** The GPUs in the driver's folder (`<procRoot>/driver/nvidia`), or why there are none to read. */
async function readDriverFolder(procRoot: string): Promise<{ gpus: RawGpu[]; driver?: string } | { problem: string }> {
  const folder = path.join(procRoot, 'driver', 'nvidia');
  let entries: string[];
  try {
    entries = await fs.readdir(path.join(folder, 'gpus'));
  } catch {
    return { problem: `${folder} is missing, so no NVIDIA driver is loaded` };
  }
  const driver = parseDriverVersion(await fs.readFile(path.join(folder, 'version'), 'utf8').catch(() => ''));
  const gpus: RawGpu[] = [];
  for (const entry of entries.sort(busOrder)) {
    const info = parseDriverInformation(await fs.readFile(path.join(folder, 'gpus', entry, 'information'), 'utf8').catch(() => ''));
    gpus.push({ smiIndex: gpus.length, name: info.name ?? 'unknown NVIDIA GPU', ...(driver === undefined ? {} : { driver }), pciBusId: info.pciBusId ?? normalizeBusId(entry), ...(info.uuid === undefined ? {} : { uuid: info.uuid }) });
  }
  return { gpus, ...(driver === undefined ? {} : { driver }) };
}

export interface DiscoverOptions {
  /** The environment: PATH (to find nvidia-smi), CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER. process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Where the driver's files are read from ('/proc' by default). */
  procRoot?: string;
}

/** The GPUs CUDA sees in a process started with `env`. Never throws: what could not be read is in `notes`. */
export async function discoverGpus(options: DiscoverOptions = {}): Promise<GpuInventory> {
  const env = options.env ?? process.env;
  const smi = await runNvidiaSmi(env);
  if ('text' in smi) return numberGpus(parseNvidiaSmi(smi.text), env, 'nvidia-smi');
  const driver = await readDriverFolder(options.procRoot ?? '/proc');
  if ('gpus' in driver) {
    const inventory = numberGpus(driver.gpus, env, 'driver', driver.driver);
    inventory.notes.unshift(`${smi.problem}: read the driver's files instead (they give no memory size)`);
    return inventory;
  }
  const inventory = numberGpus([], env, 'none');
  inventory.notes.unshift(`${smi.problem}, and ${driver.problem}`);
  return inventory;
}

const inventories = new Map<string, Promise<GpuInventory>>();
let latest: GpuInventory | undefined;

/**
 * This process's GPUs (discoverGpus on process.env), read once per PATH, CUDA_VISIBLE_DEVICES and
 * CUDA_DEVICE_ORDER: CUDA fixes its list when a process first uses it, and nvidia-smi can take a second.
 */
export function gpuInventory(): Promise<GpuInventory> {
  const env = process.env;
  const key = JSON.stringify([env['PATH'], env['CUDA_VISIBLE_DEVICES'], env['CUDA_DEVICE_ORDER']]);
  let found = inventories.get(key);
  if (found === undefined) {
    found = discoverGpus({ env }).then((inventory) => (latest = inventory));
    inventories.set(key, found);
  }
  return found;
}

/** The inventory gpuInventory() last read, if any (for messages written where waiting is not possible). */
export function lastGpuInventory(): GpuInventory | undefined {
  return latest;
}

/** `141 GB`: memory as GPUs are sold (MiB rounded up to whole GiB). */
export function formatMemory(memoryMiB: number | undefined): string | undefined {
  return memoryMiB === undefined ? undefined : `${Math.ceil(memoryMiB / 1024)} GB`;
}

/** `cuda:0 (NVIDIA H200, 141 GB)`. */
export function describeGpu(gpu: GpuInfo): string {
  const memory = formatMemory(gpu.memoryMiB);
  return `cuda:${gpu.index} (${gpu.name}${memory === undefined ? '' : `, ${memory}`})`;
}

/** `1 GPU: cuda:0 (NVIDIA H200, 141 GB)`, `no GPU that CUDA can see`, with what CUDA_VISIBLE_DEVICES hides. */
export function describeGpus(inventory: GpuInventory): string {
  const { gpus, hidden } = inventory;
  const hides = hidden === 0 ? '' : ` (CUDA_VISIBLE_DEVICES=${inventory.visibleDevices ?? ''} hides ${hidden} more)`;
  if (gpus.length === 0) return `no GPU that CUDA can see${hides}`;
  return `${gpus.length} GPU${gpus.length === 1 ? '' : 's'}: ${gpus.map(describeGpu).join(', ')}${hides}`;
}

/**
 * Why some of `devices` do not exist, as one line (`devices: cuda:7 does not exist; this machine has 1 GPU:
 * cuda:0 (NVIDIA H200, 141 GB)`), or undefined when they all exist or the GPUs could not be counted.
 */
export function missingGpuMessage(label: string, devices: readonly string[], inventory: GpuInventory): string | undefined {
  if (!inventory.counted) return undefined;
  const missing = [...new Set(devices.filter((d) => /^cuda:\d+$/.test(d) && Number(d.slice(5)) >= inventory.gpus.length))];
  if (missing.length === 0) return undefined;
  const list = missing.length === 1 ? `${missing[0]} does not exist` : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)} do not exist`;
  const fix = inventory.gpus.length === 0 ? '; use cpu, or run where CUDA sees a GPU (onnx-parallelize devices shows what was found)' : '';
  return `${label}: ${list}; this machine has ${describeGpus(inventory)}${fix}`;
}

/** The devices to use when none are given: every GPU CUDA sees, else the CPU; and why, in one line. */
export function defaultDevices(inventory: GpuInventory, cudaProblem: string | undefined): { devices: string[]; note: string } {
  const gpus = inventory.gpus.map((g) => `cuda:${g.index}`);
  if (gpus.length > 0 && cudaProblem === undefined) return { devices: gpus, note: `no devices given: using every GPU found, ${gpus.join(', ')}` };
  const why =
    gpus.length > 0
      ? `${describeGpus(inventory)} found, but ${cudaProblem}`
      : inventory.counted
        ? `no GPU found (${describeGpus(inventory)})`
        : `no GPU found (${inventory.notes[0] ?? 'nothing could be read'})`;
  return { devices: ['cpu'], note: `no devices given: using the CPU: ${why}` };
}

/**
 * The checks of a session's devices before any device starts: a `cuda:K` this machine does not have (when
 * its GPUs can be counted), and provider options that are bad or for devices the session does not use. `given`: whether the devices
 * were given by the caller (else they are the model's tags or the defaults). Throws an ArgumentError.
 */
export async function checkSessionDevices(devices: readonly string[], given: boolean, sessionOptions: ort.InferenceSession.SessionOptions | undefined, deviceOptions: DeviceOptions | undefined): Promise<void> {
  if (devices.some((d) => d.startsWith('cuda:'))) {
    const missing = missingGpuMessage(given ? 'options.devices' : "the model's devices (from its tags; give others with --devices or options.devices)", devices, await gpuInventory());
    if (missing !== undefined) throw new ArgumentError(missing);
  }
  checkDeviceOptions(devices, sessionOptions, deviceOptions);
}
