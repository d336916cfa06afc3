/**
 * config.pbtxt parsing checked against protoc: Triton's own configurations (test/triton/configs, see its README),
 * the text format's corners, everything `onnx-parallelize triton` writes, and texts protoc refuses, which the parser
 * must refuse too, naming the file, line and column. Load-request overrides in JSON are checked against the same
 * schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describeTritonModel, formatModelConfig } from '../src/index.js';
import { loadModel } from '../src/io/files.js';
import { modelConfigFromJson, parseModelConfig, tritonConfigJson, type ModelConfig } from '../src/repository/index.js';
import { fixture, fixtureNames, repoRoot } from './helpers.js';
import { decoded, encodeJson, protocEncode } from './repository/protoc.js';

const corpusRoot = path.join(repoRoot, 'test/triton/configs');

function corpusFiles(folder = corpusRoot): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? corpusFiles(path.join(folder, d.name)) : d.name === 'config.pbtxt' ? [path.join(folder, d.name)] : []));
}

/** Parses `text` with the parser and with protoc, and asserts both give the same message. */
function sameAsProtoc(text: string, file: string): ModelConfig {
  const reference = protocEncode(text);
  assert.ok(reference.ok, `${file}: protoc refuses it: ${reference.ok ? '' : reference.error}`);
  const parsed = parseModelConfig(text, file);
  assert.deepEqual(decoded(encodeJson(parsed)), decoded(reference.bytes), `${file}: the parser and protoc disagree`);
  return parsed;
}

test("Triton's own configurations parse exactly as protoc parses them", () => {
  const files = corpusFiles();
  assert.ok(files.length >= 400, `the corpus has ${files.length} configurations`);
  let identicalBytes = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const parsed = sameAsProtoc(text, path.relative(corpusRoot, file));
    const reference = protocEncode(text);
    if (reference.ok && Buffer.compare(Buffer.from(encodeJson(parsed)), Buffer.from(reference.bytes)) === 0) identicalBytes++;
  }
  // Encoded in field-number order by both; only maps of several entries may come out in another order.
  assert.ok(identicalBytes > files.length * 0.9, `${identicalBytes} of ${files.length} encode to protoc's very bytes`);
});

test('the corpus holds the examples a Triton user meets first', () => {
  const simple = parseModelConfig(readFileSync(path.join(corpusRoot, 'server/docs/examples/model_repository/simple/config.pbtxt'), 'utf8'), 'simple/config.pbtxt');
  assert.deepEqual(simple, {
    name: 'simple',
    platform: 'onnxruntime_onnx',
    max_batch_size: 8,
    input: [
      { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
      { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
    ],
    output: [
      { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] },
      { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
    ],
  });
});

test('the corners of the text format: separators, brackets, lists, maps, escapes, numbers, enums by number, comments', () => {
  const texts = [
    // `<>` for messages, `:` before a message, `;` and `,` after fields, comments anywhere.
    'name: "a"; platform: "onnxruntime_onnx", # comment\n max_batch_size: 8\ninput < name: "x" data_type: TYPE_FP32 dims: [ 1, -1 ] >\ninput: { name: "y", data_type: 11, dims: 3 dims: 4 }',
    // Repeated messages as a list, an empty list, repeated scalars one by one.
    'instance_group [ { kind: KIND_GPU count: 2 gpus: [0, 1] }, < kind: KIND_CPU > ]\noutput []\ndynamic_batching { preferred_batch_size: 4 preferred_batch_size: 8 max_queue_delay_microseconds: 100 }',
    // Maps: entries repeated, as a list, with `<>` and `:`, value left out, key left out.
    'parameters { key: "a" value { string_value: "1" } }\nparameters: [ { key: "b", value: < string_value: "2" > }, { key: "c" } ]\nparameters { value { string_value: "no key" } }',
    // Strings: both quotes, escapes (octal, hex, unicode, named), adjacent strings joined, UTF-8 as it is.
    "name: 'it''s' \"\\101\\x42\\u00e9\\n\\t\\\\\\\"\" \"modèle\"",
    // Numbers: hex, octal, negative, 64-bit limits; floats with exponents, a suffix, inf and nan.
    'version_policy { specific { versions: [ 0x10, 017, 9223372036854775807, -9223372036854775808 ] } }\nmodel_warmup { inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 2 ] random_data: true } } batch_size: 4294967295 }',
    'optimization { graph { level: -1 } priority: PRIORITY_MAX cuda { graphs: true graph_spec [ { batch_size: 2 } ] } }\nresponse_cache { enable: True }\nsequence_batching { max_sequence_idle_microseconds: 18446744073709551615 control_input [ { name: "s" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1.5e3 ] } ] } ] }',
    'sequence_batching { control_input { name: "c" control { fp32_false_true: [ -inf, inf ] fp32_false_true: nan fp32_false_true: 2.5f fp32_false_true: .5 } } }',
    // Oneof members one at a time; booleans spelled every way protobuf takes them.
    'version_policy { all { } }\ninput { name: "b" is_shape_tensor: t allow_ragged_batch: 1 optional: False }',
    // A scalar of value zero given twice is allowed (proto3 scalars without presence), as protoc allows it.
    'max_batch_size: 0 max_batch_size: 8',
    // Empty text, and only a comment.
    '',
    '# nothing else\n',
    // Booleans as 0 or 1 in any base; a surrogate pair written as two escapes.
    'response_cache { enable: 0x1 } input { name: "\\ud83d\\ude00" optional: 00 }',
    // Keys that are also names of JavaScript's object properties.
    'parameters { key: "__proto__" value { string_value: "x" } } parameters { key: "constructor" value { string_value: "y" } }',
    // A map keyed by integers.
    'dynamic_batching { priority_levels: 2 priority_queue_policy { key: 1 value { timeout_action: DELAY default_timeout_microseconds: 100 } } priority_queue_policy { key: 2 value { max_queue_size: 3 } } }',
  ];
  for (const [i, text] of texts.entries()) sameAsProtoc(text, `corner ${i}`);
  const keys = parseModelConfig(texts.find((t) => t.includes('__proto__'))!, 'x').parameters!;
  assert.deepEqual(Object.keys(keys), ['__proto__', 'constructor']);
  assert.equal(Object.getPrototypeOf(keys), Object.prototype);
  assert.equal(parseModelConfig(texts[3]!, 'x').name, 'itsAB\u00e9\n\t\\"modèle');
  // Numbers past 2^53 stay decimal strings where Triton writes numbers: a JavaScript number would change them.
  assert.deepEqual(parseModelConfig(texts[4]!, 'x').version_policy, { specific: { versions: [16, 15, '9223372036854775807', '-9223372036854775808'] } });
});

test('what protoc refuses is refused, naming the file, line and column and what was expected', () => {
  const cases: Array<[text: string, where: string, message: RegExp]> = [
    ['name: "a"\nnmae: "b"', '2:1', /message type "inference\.ModelConfig" has no field named "nmae"/],
    ['input { name: "x" data_type: TYPE_FLOAT32 }', '1:30', /unknown value "TYPE_FLOAT32" for enum field "data_type" \(inference\.DataType: TYPE_INVALID, TYPE_BOOL/],
    ['max_batch_size: "8"', '1:17', /expected an integer for field "max_batch_size" \(int32\), got '"8"'/],
    ['max_batch_size: 2147483648', '1:17', /2147483648 is out of range for int32/],
    ['max_batch_size: 1.5', '1:17', /expected an integer/],
    ['instance_group { gpus: [0, 1 }', '1:30', /expected ',' or '\]' in the list of "gpus", got '}'/],
    ['input {\n  name: "x"\n', '3:1', /expected '}' to close the inference\.ModelInput opened at 1:7, got the end of the text/],
    ['name: "a" name: "b"', '1:11', /non-repeated field "name" is specified multiple times/],
    ['max_batch_size: 4\nmax_batch_size: 8', '2:1', /non-repeated field "max_batch_size" is specified multiple times/],
    ['dynamic_batching { } dynamic_batching { }', '1:22', /non-repeated field "dynamic_batching" is specified multiple times/],
    ['version_policy { all { } latest { num_versions: 2 } }', '1:26', /field "latest" is specified along with field "all", another member of oneof "policy_choice"/],
    ['name: "abc', '1:7', /string literal is not closed on its line/],
    ['name "a"', '1:6', /expected ':' after field "name", got '"a"'/],
    ['input { dims: [ 1 ] reshape: 3 }', '1:30', /expected '\{' or '<' to open a inference\.ModelTensorReshape, got '3'/],
    ['version_policy { specific { versions: [ -1 ] } }\ninstance_group { count: -1 gpus: -3 }\nmodel_warmup { batch_size: -1 }', '3:28', /field "batch_size" is unsigned \(uint32\): a negative number is not allowed/],
    ['response_cache { enable: 2 }', '1:26', /expected true or false for field "enable", got '2'/],
    ['sequence_batching { control_input { control { fp32_false_true: 0x1 } } }', '1:64', /expected a decimal number for field "fp32_false_true" \(float\), got '0x1'/],
    ['model_warmup { batch_size: 4294967296 }', '1:28', /4294967296 is out of range for uint32/],
    ['name: "\\q"', '1:8', /invalid escape sequence in string literal: \\q/],
    ['response_cache { enable: yes }', '1:26', /expected true or false for field "enable", got 'yes'/],
    ['parameters { key: "a" key: "b" }', '1:23', /non-repeated field "key" is specified multiple times/],
    ['parameters { name: "a" }', '1:14', /expected "key" or "value" in an entry of map "parameters", got 'name'/],
    ['[inference.x] { }', '1:1', /extensions and Any fields/],
    ['max_batch_size: 08', '1:17', /numbers starting with leading zero must be in octal/],
    ['max_batch_size: 8x', '1:17', /need space between number and identifier/],
    ['max_batch_size: 4 }', '1:19', /expected a field name of inference\.ModelConfig, got '}'/],
    ['constructor: 1', '1:1', /message type "inference\.ModelConfig" has no field named "constructor"/],
    ['instance_group { kind: toString }', '1:24', /unknown value "toString" for enum field "kind"/],
  ];
  // protoc takes a string that is not UTF-8 (it only logs it); Triton's JSON cannot carry it, so it is refused.
  assert.equal(protocEncode('name: "\\377"').ok, true);
  assert.throws(() => parseModelConfig('name: "\\377"', 'c.pbtxt'), /^InputError: c\.pbtxt:1:7: string field "name" holds bytes that are not valid UTF-8/);
  for (const [text, where, message] of cases) {
    assert.equal(protocEncode(text).ok, false, `protoc refuses ${JSON.stringify(text)}`);
    assert.throws(
      () => parseModelConfig(text, 'models/m/config.pbtxt'),
      (error: Error) => {
        assert.equal(error.name, 'InputError');
        assert.ok(error.message.startsWith(`models/m/config.pbtxt:${where}: `), `${JSON.stringify(text)}: ${error.message} is at ${where}`);
        assert.match(error.message, message);
        return true;
      },
    );
  }
});

test('every config.pbtxt `onnx-parallelize triton` writes parses exactly as protoc parses it', async () => {
  const variants: Array<Parameters<typeof describeTritonModel>[1] | undefined> = [
    { devices: ['cpu'], name: 'm' },
    { devices: ['cuda:0', 'cuda:1'], weights: [2, 1], name: 'm', cudaOptions: { gpu_mem_limit: '8GiB', cudnn_conv_algo_search: 'HEURISTIC', arena_extend_strategy: 'kSameAsRequested', do_copy_in_default_stream: true } },
    { devices: ['cuda:0', 'cpu'], name: 'm.v2', maxBatch: 32, preferredBatch: [8, 16], maxQueueDelayUs: 500 },
  ];
  let written = 0;
  for (const name of fixtureNames()) {
    const model = await loadModel(fixture(name));
    for (const options of variants) {
      let text: string;
      try {
        text = formatModelConfig(describeTritonModel(model, options!).config);
      } catch {
        continue; // A model the writer refuses (a rewritten one, batching options on a model that cannot batch).
      }
      const parsed = sameAsProtoc(text, `${name} ${JSON.stringify(options)}`);
      assert.equal(parsed.name, options!.name);
      written++;
    }
  }
  assert.ok(written >= fixtureNames().length, `${written} configs written and compared`);
});

test('a JSON configuration (a load override) is checked against the same schema: unknown fields and bad values are named', () => {
  const text = readFileSync(path.join(corpusRoot, 'server/docs/examples/model_repository/simple/config.pbtxt'), 'utf8');
  const fromText = parseModelConfig(text, 'simple');
  // Triton's own JSON of a configuration (every field written) reads back to the same message.
  const served = tritonConfigJson(fromText);
  assert.deepEqual(decoded(encodeJson(modelConfigFromJson(JSON.stringify(served), 'config'))), decoded(encodeJson(fromText)));
  // lowerCamelCase names, 64-bit integers as strings, enum names in any case, null for a field left out.
  assert.deepEqual(modelConfigFromJson({ maxBatchSize: 4, input: [{ name: 'x', dataType: 'type_fp32', dims: ['3', 4] }], platform: null }, 'config'), {
    max_batch_size: 4,
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3, 4] }],
  });
  const refused: Array<[unknown, RegExp]> = [
    ['{"name": "m", "inputs": []}', /^failed to load 'm': parameters\.config: unknown field "inputs" in inference\.ModelConfig; its fields are name, platform/],
    [{ input: [{ name: 'x', shape: [1] }] }, /input\[0\]: unknown field "shape" in inference\.ModelInput/],
    [{ max_batch_size: 'eight' }, /max_batch_size: expected an integer \(int32\), got string "eight"/],
    [{ max_batch_size: 2 ** 31 }, /max_batch_size: 2147483648 is out of range for int32/],
    [{ instance_group: [{ kind: 'KIND_TPU' }] }, /instance_group\[0\]\.kind: unknown value "KIND_TPU" of enum inference\.ModelInstanceGroup\.Kind/],
    [{ input: { name: 'x' } }, /input: expected an array/],
    [{ version_policy: { all: {}, latest: {} } }, /version_policy\.latest: field "latest" is given along with "all"/],
    [{ parameters: { a: { string_value: 1 } } }, /parameters\["a"\]\.string_value: expected a string, got number 1/],
    ['{"name": ', /^failed to load 'm': parameters\.config: not JSON/],
    [[1], /expected an object \(inference\.ModelConfig\), got an array/],
    ['{"__proto__": {"name": "x"}}', /unknown field "__proto__" in inference\.ModelConfig/],
    [{ instance_group: [{ kind: 'constructor' }] }, /unknown value "constructor"/],
  ];
  for (const [json, message] of refused) {
    assert.throws(() => modelConfigFromJson(json, "failed to load 'm': parameters.config"), (error: Error) => error.name === 'InputError' && message.test(error.message) && error.message.startsWith("failed to load 'm'"));
  }
});

test("Triton's JSON of a configuration: every scalar, list and map written, 64-bit integers as numbers where Triton writes numbers", () => {
  const config = parseModelConfig('name: "m" max_batch_size: 4 input { name: "x" data_type: TYPE_FP32 dims: [ -1 ] reshape { shape: [ ] } } dynamic_batching { max_queue_delay_microseconds: 100 default_queue_policy { default_timeout_microseconds: 5 } } model_warmup { batch_size: 1 inputs { key: "x" value { dims: [ 2 ] } } }', 'm');
  const json = tritonConfigJson(config) as Record<string, any>;
  assert.deepEqual(json['input'][0], { name: 'x', data_type: 'TYPE_FP32', format: 'FORMAT_NONE', dims: [-1], reshape: { shape: [] }, is_shape_tensor: false, allow_ragged_batch: false, optional: false, is_non_linear_format_io: false });
  assert.equal(json['dynamic_batching']['max_queue_delay_microseconds'], 100);
  assert.equal(json['dynamic_batching']['default_queue_policy']['default_timeout_microseconds'], 5);
  assert.equal(json['dynamic_batching']['default_queue_policy']['timeout_action'], 'REJECT');
  const sequence = tritonConfigJson(parseModelConfig('sequence_batching { oldest { max_candidate_sequences: 2 } }', 'm'))['sequence_batching'] as Record<string, any>;
  assert.equal(sequence['max_sequence_idle_microseconds'], 0);
  assert.equal(sequence['oldest']['max_queue_delay_microseconds'], 0);
  assert.deepEqual(json['model_warmup'][0]['inputs']['x']['dims'], [2]);
  assert.deepEqual(json['output'], []);
  assert.deepEqual(json['parameters'], {});
  assert.equal(json['backend'], '');
  // Unset messages and oneof members stay out, as protobuf's printer leaves them.
  assert.equal(json['version_policy'], undefined);
  assert.equal(json['ensemble_scheduling'], undefined);
  // Other 64-bit integers stay strings, as protobuf's JSON writes them.
  const graphSpec = tritonConfigJson(parseModelConfig('optimization { cuda { graph_spec { batch_size: 2 input { key: "x" value { dim: [ 3 ] } } } } }', 'm'))['optimization'] as Record<string, any>;
  assert.deepEqual(graphSpec['cuda']['graph_spec'][0]['input']['x']['dim'], ['3']);
  assert.deepEqual(tritonConfigJson(parseModelConfig('model_transaction_policy { decoupled: true } response_cache { enable: true }', 'x'))['response_cache'], { enable: true });
});

/** A seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
}

test('mutated configurations: the parser accepts exactly what protoc accepts, with the same values', () => {
  const next = random(20_251_207);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const files = corpusFiles();
  const pieces = ['{', '}', '<', '>', '[', ']', ':', ',', ';', '"', "'", '-', '0x1F', '07', '08', '1.5', '.5', '2f', '1e5', 'inf', 'nan', 'true', 't', '\\', '#', '\n', ' ', 'KIND_GPU', 'TYPE_FP32', '99999999999', '-1', 'key', 'value', 'name', 'max_batch_size'];
  const slots: Array<[string, string]> = [
    ['max_batch_size: ', ''], ['input { dims: ', ' }'], ['dynamic_batching { max_queue_delay_microseconds: ', ' }'], ['model_warmup { batch_size: ', ' }'], ['name: ', ''],
    ['response_cache { enable: ', ' }'], ['instance_group { kind: ', ' }'], ['sequence_batching { control_input { control { fp32_false_true: ', ' } } }'],
    ['optimization { graph { level: ', ' } }'], ['parameters { key: ', ' }'], ['dynamic_batching { priority_queue_policy { key: ', ' } }'], ['version_policy { specific { versions: ', ' } }'],
  ];
  const values = ['0', '-0', '00', '07', '08', '0x0', '0X1f', '0xffffffffffffffff', '0x10000000000000000', '-0x1', '1', '-1', '2147483647', '2147483648', '-2147483649', '4294967295', '4294967296',
    '9223372036854775807', '9223372036854775808', '18446744073709551615', '18446744073709551616', '1.', '1.0', '.5', '1e10', '1E-3', '1.5f', 'inf', 'INF', 'infinity', '-inf', 'nan', 'true', 'True', 't', 'False',
    '"x"', "'x'", '"a""b"', '"\\0"', '"\\1234"', '"\\x4"', '"\\x414"', '"\\u00e9"', '"\\U0001F600"', '"\\?"', '"\\a\\b\\f\\v"', 'KIND_CPU', '2', '-2', '99', 'kind_gpu', '[1]', '[ ]', '[1,]', '[,]', '[1 2]', '[-1, -2]', '[ "a" ]'];
  const texts: string[] = [];
  for (let i = 0; i < 250; i++) {
    let text = readFileSync(pick(files), 'utf8');
    for (let k = 1 + Math.floor(next() * 3); k > 0; k--) {
      const at = Math.floor(next() * text.length);
      text = next() < 0.4 ? text.slice(0, at) + text.slice(at + 1 + Math.floor(next() * 5)) : text.slice(0, at) + pick(pieces) + text.slice(at);
    }
    texts.push(text);
  }
  for (let i = 0; i < 250; i++) {
    const [before, after] = pick(slots);
    texts.push(`${before}${pick(values)}${after}`);
  }
  let accepted = 0;
  for (const [i, text] of texts.entries()) {
    const reference = protocEncode(text);
    let parsed: ModelConfig | Error;
    try {
      parsed = parseModelConfig(text, 'mutated');
    } catch (error) {
      parsed = error as Error;
    }
    assert.equal(!(parsed instanceof Error), reference.ok, `text ${i} ${JSON.stringify(text)}: protoc ${reference.ok ? 'accepts' : `refuses (${reference.error.trim()})`}, the parser ${parsed instanceof Error ? `refuses (${parsed.message})` : 'accepts'}`);
    if (parsed instanceof Error) {
      assert.match(parsed.message, /^mutated:\d+:\d+: /);
    } else {
      accepted++;
      assert.deepEqual(decoded(encodeJson(parsed)), decoded((reference as { bytes: Uint8Array }).bytes), `text ${i} ${JSON.stringify(text)}`);
    }
  }
  assert.ok(accepted > 100 && accepted < texts.length - 100, `${accepted} of ${texts.length} accepted: both kinds are tried`);
});
