// One API call, in XAPI's order of checks (gen_server.ml, server_helpers.ml): method lookup (`Async.` stripped,
// `_` for `.`), parameter count (excluding the session and defaulted trailing parameters), typed conversion of
// every argument (INTERNAL_ERROR on a mismatch), session check, removed messages, Async support, then the
// implementation. Unknown methods check the session first when they carry parameters.
import { CLASSES, lookupMessage, type MessageSpec } from '../datamodel/classes.js';
import { T, type XType } from '../datamodel/types.js';
import { toXmlValue } from '../wire/marshal.js';
import { ConversionError, unmarshal, type Wire } from '../wire/values.js';
import { type CallContext, type Handler, type LabCore, Typed } from './context.js';
import { ApiError, apiError, describeError } from './errors.js';
import { genericHandler } from './generic.js';
import { HANDLERS } from './handlers.js';
import { TaskCancelledError } from './tasks.js';
import { productLacks, type ProductProfile } from '../setup/products.js';

export type DispatchOutcome =
  | { kind: 'success'; value: unknown; type: XType }
  /** system.listMethods: answered without the Status/Value wrapper. */
  | { kind: 'bare'; value: unknown; type: XType }
  | { kind: 'failure'; description: string[] };

/** Async operations a task.cancel can stop. */
const CANCELLABLE = new Set([
  'VM.start',
  'VM.start_on',
  'VM.clean_shutdown',
  'VM.shutdown',
  'VM.clean_reboot',
  'VM.hard_shutdown',
  'VM.hard_reboot',
  'VM.copy',
  'VDI.copy',
  'SR.scan',
]);

/** Every method name the lab serves for the product (synchronous names, as XAPI lists them). */
export function listMethods(product: ProductProfile): string[] {
  const names: string[] = ['system.listMethods'];
  for (const [cls, spec] of CLASSES) {
    for (const [name, m] of spec.messages) {
      if (m.removed || productLacks(product, m.wire)) continue;
      if (m.kind === 'explicit' && !HANDLERS.has(m.wire) && !STUB_VTPM.has(m.wire)) continue;
      names.push(`${cls}.${name}`);
    }
  }
  return names;
}

/**
 * VTPM.create/destroy of xapi before 22.26.0: the implicit constructor (one VTPM record) and destructor of its
 * stub class, both answering NOT_IMPLEMENTED (xen-api v1.249.x ocaml/xapi/api_server.ml).
 */
const STUB_VTPM = new Set(['VTPM.create', 'VTPM.destroy']);

function stubVtpmCall(core: LabCore, wire: string, params: Wire[]): DispatchOutcome {
  const received = params.length - 1;
  if (received !== 1) return failure(apiError('MESSAGE_PARAMETER_COUNT_MISMATCH', wire, 1, received));
  const first = params[0];
  const session = first?.t === 'str' ? first.v : '';
  if (!core.sessions.isValid(session)) return failure(apiError('SESSION_INVALID', session));
  return failure(apiError('NOT_IMPLEMENTED', wire));
}

function handlerFor(spec: MessageSpec): Handler | undefined {
  return HANDLERS.get(spec.wire) ?? genericHandler(spec);
}

function convertRecord(spec: MessageSpec, w: Wire): Record<string, unknown> {
  const cls = spec.params[0]?.type.k === 'record' ? spec.params[0].type.cls : spec.cls;
  if (w.t !== 'dict') throw new ConversionError('Failure("bad __structure")');
  const members = new Map(w.v);
  const out: Record<string, unknown> = {};
  for (const f of CLASSES.get(cls)?.ctorFields ?? []) {
    const member = members.get(f.name);
    if (member !== undefined) out[f.name] = unmarshal(member, f.type);
    else if (f.hasDefault) out[f.name] = structuredClone(f.defaultValue);
    else throw new ConversionError(`Server_helpers.Dispatcher_FieldNotFound(${JSON.stringify(f.name)})`);
  }
  return out;
}

function convertArgs(spec: MessageSpec, params: Wire[]): unknown[] {
  const given = spec.session ? params.slice(1) : params;
  return spec.params.map((p, i) => {
    const w = given[i];
    if (w === undefined) return structuredClone(spec.defaults[i - spec.required]);
    return p.type.k === 'record' ? convertRecord(spec, w) : unmarshal(w, p.type);
  });
}

function failure(err: unknown): DispatchOutcome {
  if (err instanceof ConversionError) return { kind: 'failure', description: ['INTERNAL_ERROR', err.message] };
  return { kind: 'failure', description: describeError(err) };
}

export interface DispatchOptions {
  /** The host whose listener received the call. */
  via: string;
}

export async function dispatch(
  core: LabCore,
  method: string,
  params: Wire[],
  options: DispatchOptions,
): Promise<DispatchOutcome> {
  if (method === 'system.listMethods') return { kind: 'bare', value: listMethods(core.product), type: T.set(T.string) };
  const looked = lookupMessage(method);
  const stripped = method.replace(/^(Async|InternalAsync)\./, '');
  const found = looked && productLacks(core.product, looked.spec.wire) ? undefined : looked;
  if (found && core.product.vtpm === 'stub' && STUB_VTPM.has(found.spec.wire))
    return stubVtpmCall(core, found.spec.wire, params);
  if (!found) {
    const first = params[0];
    if (first !== undefined) {
      const session = first.t === 'str' ? first.v : '';
      if (!core.sessions.isValid(session)) return failure(apiError('SESSION_INVALID', session));
    }
    return failure(apiError('MESSAGE_METHOD_UNKNOWN', stripped));
  }
  const { spec, async } = found;
  const received = params.length - (spec.session ? 1 : 0);
  const countOk = spec.defaults.length > 0 ? received >= spec.required : received === spec.params.length;
  if (!countOk) return failure(apiError('MESSAGE_PARAMETER_COUNT_MISMATCH', spec.wire, spec.required, received));

  let args: unknown[];
  let session = '';
  try {
    if (spec.session) session = unmarshal(params[0]!, T.ref('session')) as string;
    args = convertArgs(spec, params);
  } catch (err) {
    return failure(err);
  }
  if (spec.session) {
    if (core.faults.take(['sessionInvalid'], method)) core.sessions.expire(session);
    try {
      core.sessions.check(session);
    } catch (err) {
      return failure(err);
    }
  }
  if (spec.removed) return failure(apiError('MESSAGE_REMOVED'));
  if (async && !spec.async)
    return { kind: 'failure', description: ['Fault', `No async mode for this operation (rpc: ${spec.wire})`] };
  const handler = handlerFor(spec);
  if (!handler) return failure(apiError('NOT_IMPLEMENTED', spec.wire));

  if (async) {
    const task = core.tasks.create(`Async.${spec.wire}`, '', { cancellable: CANCELLABLE.has(spec.wire) });
    const ctx: CallContext = { core, session, task, signal: core.tasks.signal(task), via: options.via };
    void (async () => {
      try {
        const value = await handler(ctx, args);
        core.tasks.succeed(
          task,
          value instanceof Typed ? toXmlValue(value.value, value.type) : toXmlValue(value, spec.result),
        );
      } catch (err) {
        const cancelled = err instanceof TaskCancelledError || (ctx.signal.aborted && !(err instanceof ApiError));
        core.tasks.fail(task, cancelled ? ['TASK_CANCELLED', task] : describeError(err));
        if (!(err instanceof ApiError) && !cancelled)
          core.log.error({ err, method }, 'unexpected failure in an Async call');
      }
    })();
    return { kind: 'success', value: task, type: T.ref('task') };
  }
  const ctx: CallContext = { core, session, signal: new AbortController().signal, via: options.via };
  try {
    const value = await handler(ctx, args);
    if (value instanceof Typed) return { kind: 'success', value: value.value, type: value.type };
    return { kind: 'success', value, type: spec.result };
  } catch (err) {
    if (!(err instanceof ApiError)) core.log.error({ err, method }, 'unexpected failure in a call');
    return failure(err);
  }
}
