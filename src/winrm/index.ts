// Public surface of the WinRM shell client.
export {
  WinrmClient,
  WinrmShell,
  outputText,
  type CommandResult,
  type RunOptions,
  type ShellOptions,
  type WinrmClientOptions,
} from './client.js';
export * from './errors.js';
export { decodeClixml, encodePowerShell, psQuote } from './powershell.js';
export { endpointUrl, type WinrmEndpoint, type WinrmTlsOptions } from './transport.js';
