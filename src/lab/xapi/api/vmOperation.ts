// XAPI's with_vm_operation: check the operation (retrying briefly while another one holds the VM, as
// message_forwarding does), record it in current_operations (allowed_operations recomputed, `mod` events before
// and after), run it, clear it.
import { newRef } from '../db/database.js';
import { refreshVm } from '../lifecycle/links.js';
import { vmOperationError } from '../lifecycle/vmOperations.js';
import type { CallContext } from './context.js';

const CONFLICT_RETRIES = 3;

export async function withVmOperation<T>(
  ctx: CallContext,
  vmRef: string,
  op: string,
  body: () => Promise<T>,
  options: { strict?: boolean } = {},
): Promise<T> {
  const { db } = ctx.core;
  for (let attempt = 0; ; attempt++) {
    const err = vmOperationError(db, vmRef, op, options.strict ?? false);
    if (!err) break;
    if (err.code === 'OTHER_OPERATION_IN_PROGRESS' && attempt < CONFLICT_RETRIES) {
      await ctx.core.delay(500, ctx.signal);
      continue;
    }
    throw err;
  }
  const opRef = ctx.task ?? newRef();
  db.update('VM', vmRef, (row) => {
    row.current_operations = { ...(row.current_operations as Record<string, string>), [opRef]: op };
  });
  refreshVm(db, vmRef);
  try {
    return await body();
  } finally {
    if (db.get('VM', vmRef)) {
      db.update('VM', vmRef, (row) => {
        const ops = { ...(row.current_operations as Record<string, string>) };
        delete ops[opRef];
        row.current_operations = ops;
      });
      refreshVm(db, vmRef);
    }
  }
}
