// Every explicit implementation the lab has, by wire name. Implicit messages not listed here fall back to the
// generic getters/setters (./generic.ts); explicit messages without an entry answer NOT_IMPLEMENTED.
import type { Handler } from './context.js';
import { eventHandlers } from './event.js';
import { networkHandlers } from './network.js';
import { sessionHandlers } from './session.js';
import { storageHandlers } from './storage.js';
import { vbdHandlers } from './vbd.js';
import { vmHandlers } from './vm.js';
import { vtpmHandlers } from './vtpm.js';

export const HANDLERS: ReadonlyMap<string, Handler> = new Map(
  Object.entries({
    ...sessionHandlers,
    ...eventHandlers,
    ...vmHandlers,
    ...vbdHandlers,
    ...storageHandlers,
    ...networkHandlers,
    ...vtpmHandlers,
  }),
);
