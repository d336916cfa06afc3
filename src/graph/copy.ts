/** Cheap shallow copies of protobuf-es messages. */
import type { Message } from '@bufbuild/protobuf';

/**
 * A shallow copy of `message` with some fields replaced. It shares the message's prototype (where protobuf-es
 * keeps proto2 defaults), so which fields count as set is kept exactly, and it costs far less than `create`.
 */
export function withFields<T extends Message>(message: T, fields: Partial<T>): T {
  return Object.assign(Object.create(Object.getPrototypeOf(message) as object) as T, message, fields);
}
