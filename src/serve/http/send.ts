/** Writing answers: JSON (made now or written once at load), an error's `{"error": ...}`, and health's empty 200 or 503. */
import type http from 'node:http';

export function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(response, status, JSON.stringify(body), headers);
}

/** JSON already written as text (metadata made once when a model is loaded). */
export function sendJsonText(response: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

/** A health answer: 200 or 503, with an empty body, as the protocol says. */
export function sendStatus(response: http.ServerResponse, ok: boolean): void {
  response.writeHead(ok ? 200 : 503, { 'content-length': 0 });
  response.end();
}

export const sendError = (response: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void => sendJson(response, status, { error: message }, headers);
