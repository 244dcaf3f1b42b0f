// VTPM.create and VTPM.destroy (message_forwarding.ml, xapi_vtpm.ml): create runs as the VM operation
// `create_vtpm` (blocked, power state, concurrency, template, snapshot, VTPM_MAX_AMOUNT_REACHED), then XAPI's own
// checks (FEATURE_RESTRICTED restrict_vtpm, one per VM, halted); destroy checks the VM is halted or suspended and
// recomputes the VM's allowed operations. Getters and get_all come from the datamodel (./generic.ts).
import { refreshVm } from '../lifecycle/links.js';
import { createVtpm, destroyVtpm } from '../lifecycle/vtpm.js';
import type { Handler } from './context.js';
import { withVmOperation } from './vmOperation.js';

export const vtpmHandlers: Record<string, Handler> = {
  'VTPM.create': (ctx, [vm, isUnique]) => {
    ctx.core.db.require('VM', vm as string);
    return withVmOperation(ctx, vm as string, 'create_vtpm', () =>
      Promise.resolve(createVtpm(ctx.core, vm as string, isUnique === true)),
    );
  },
  'VTPM.destroy': (ctx, [self]) => {
    const vm = ctx.core.db.require('VTPM', self as string).VM as string;
    destroyVtpm(ctx.core.db, self as string);
    refreshVm(ctx.core.db, vm);
    return '';
  },
};
