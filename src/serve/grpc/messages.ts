/**
 * The messages of Triton's `grpc_service.proto` this server reads and writes, as @grpc/proto-loader gives them
 * (see proto.ts): the protos' field names, 64-bit integers as decimal strings, bytes as Buffers, every field
 * present (a message field absent is null).
 */

/** `inference.InferParameter`: one of its fields set, named by `parameter_choice`. */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}

/** `inference.InferTensorContents`: the typed contents of a tensor. */
export interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: string[];
  parameters: Record<string, InferParameter>;
  contents: InferTensorContents | null;
}

export interface InferRequestedOutputTensor {
  name: string;
  parameters: Record<string, InferParameter>;
}

/** `inference.ModelInferRequest`. */
export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs: InferRequestedOutputTensor[];
  raw_input_contents: Buffer[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
}

/** `inference.ModelInferResponse`, as this server writes it: every output's data in `raw_output_contents`. */
export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: InferOutputTensor[];
  raw_output_contents: Uint8Array[];
}

/** `inference.ModelStreamInferResponse`: an answer, or the error of one request of the stream. */
export interface ModelStreamInferResponse {
  error_message: string;
  infer_response: ModelInferResponse | null;
}

/** The requests that name a model and optionally its version (ModelReady, ModelMetadata, ModelConfig, ModelStatistics). */
export interface ModelRequest {
  name: string;
  version: string;
}

/** `inference.ModelRepositoryParameter`. */
export interface ModelRepositoryParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'bytes_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  bytes_param?: Buffer;
}

export interface RepositoryIndexRequest {
  repository_name: string;
  ready: boolean;
}

export interface RepositoryModelRequest {
  repository_name: string;
  model_name: string;
  parameters: Record<string, ModelRepositoryParameter>;
}
