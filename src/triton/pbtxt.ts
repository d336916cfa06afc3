/** Writing a TritonModelConfig as config.pbtxt: Protocol Buffers text format of Triton's `inference.ModelConfig`. */
import type { TritonDynamicBatching, TritonInstanceGroup, TritonModelConfig, TritonTensor } from './config.js';
import type { TritonAccelerator } from './cuda-parameters.js';

const utf8 = new TextEncoder();

/** A text-format string literal: printable ASCII as it is, quotes and backslashes escaped, other bytes in octal. */
export function quoteText(text: string): string {
  let quoted = '"';
  for (const byte of utf8.encode(text)) {
    if (byte === 0x22 || byte === 0x5c) quoted += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) quoted += String.fromCharCode(byte);
    else quoted += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return `${quoted}"`;
}

const numbers = (values: readonly number[]): string => (values.length === 0 ? '[ ]' : `[ ${values.join(', ')} ]`);

const indent = (lines: string[]): string[] => lines.map((line) => `  ${line}`);

/** `field [ { ... }, { ... } ]`, or nothing for an empty list. */
function messageList(field: string, messages: string[][]): string[] {
  if (messages.length === 0) return [];
  const items = messages.flatMap((fields, i) => ['{', ...indent(fields), i === messages.length - 1 ? '}' : '},']);
  return [`${field} [`, ...indent(items), ']'];
}

function tensorFields(tensor: TritonTensor): string[] {
  return [
    `name: ${quoteText(tensor.name)}`,
    `data_type: ${tensor.dataType}`,
    `dims: ${numbers(tensor.dims)}`,
    ...(tensor.reshape === undefined ? [] : [`reshape: { shape: ${numbers(tensor.reshape)} }`]),
  ];
}

function groupFields(group: TritonInstanceGroup): string[] {
  return [`kind: ${group.kind}`, `count: ${group.count}`, ...(group.gpus.length === 0 ? [] : [`gpus: ${numbers(group.gpus)}`])];
}

function dynamicBatchingFields(batching: TritonDynamicBatching): string[] {
  return [
    ...(batching.preferredBatchSize.length === 0 ? [] : [`preferred_batch_size: ${numbers(batching.preferredBatchSize)}`]),
    `max_queue_delay_microseconds: ${batching.maxQueueDelayMicroseconds}`,
  ];
}

function acceleratorFields(accelerator: TritonAccelerator): string[] {
  return [`name: ${quoteText(accelerator.name)}`, ...Object.entries(accelerator.parameters).map(([key, value]) => `parameters { key: ${quoteText(key)} value: ${quoteText(value)} }`)];
}

/** `optimization { execution_accelerators { gpu_execution_accelerator [ ... ] } }`, or nothing without accelerators. */
function optimizationFields(accelerators: TritonAccelerator[]): string[] {
  if (accelerators.length === 0) return [];
  return ['optimization {', ...indent(['execution_accelerators {', ...indent(messageList('gpu_execution_accelerator', accelerators.map(acceleratorFields))), '}']), '}'];
}

export function formatModelConfig(config: TritonModelConfig): string {
  const lines = [
    `name: ${quoteText(config.name)}`,
    `platform: ${quoteText(config.platform)}`,
    `max_batch_size: ${config.maxBatchSize}`,
    ...messageList('input', config.input.map(tensorFields)),
    ...messageList('output', config.output.map(tensorFields)),
    ...messageList('instance_group', config.instanceGroup.map(groupFields)),
    ...(config.dynamicBatching === null ? [] : ['dynamic_batching {', ...indent(dynamicBatchingFields(config.dynamicBatching)), '}']),
    ...optimizationFields(config.gpuExecutionAccelerators),
    ...Object.entries(config.parameters).flatMap(([key, value]) => ['parameters {', ...indent([`key: ${quoteText(key)}`, `value: { string_value: ${quoteText(value)} }`]), '}']),
  ];
  return `${lines.join('\n')}\n`;
}
