// WS-Management shell protocol constants of the client: namespace URIs with the prefixes Windows itself emits,
// action URIs, and the WSManFault codes the engine reacts to. The lab's server has its own, written from the
// specifications (docs/decisions/windows-0006-lab-wsman-server-from-the-specifications.md).

/** Namespace URIs keyed by the prefix Windows uses in its responses (prefix-literal clients depend on these). */
export const NS = {
  s: 'http://www.w3.org/2003/05/soap-envelope',
  a: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  w: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  p: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  rsp: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  x: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  f: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
} as const;

const SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';
const TRANSFER = 'http://schemas.xmlsoap.org/ws/2004/09/transfer';

export const ACTION = {
  create: `${TRANSFER}/Create`,
  createResponse: `${TRANSFER}/CreateResponse`,
  delete: `${TRANSFER}/Delete`,
  deleteResponse: `${TRANSFER}/DeleteResponse`,
  command: `${SHELL}/Command`,
  commandResponse: `${SHELL}/CommandResponse`,
  receive: `${SHELL}/Receive`,
  receiveResponse: `${SHELL}/ReceiveResponse`,
  send: `${SHELL}/Send`,
  sendResponse: `${SHELL}/SendResponse`,
  signal: `${SHELL}/Signal`,
  signalResponse: `${SHELL}/SignalResponse`,
  fault: 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
} as const;

export const RESOURCE_URI_CMD = `${SHELL}/cmd`;
export const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';
export const MAX_ENVELOPE_SIZE = 153600;

export const SIGNAL_TERMINATE = `${SHELL}/signal/terminate`;
export const STATE_DONE = `${SHELL}/CommandState/Done`;

/** WSManFault codes (docs/reference/windows.md §1.7). */
export const FAULT = {
  /** Receive reached OperationTimeout with no output: poll again. */
  operationTimeout: 2150858793,
  shellNotFound: 2150858843,
  schemaValidation: 2150858817,
  quotaMaxShells: 2150859173,
  quotaMaxOperations: 2150859174,
  accessDenied: 5,
} as const;
