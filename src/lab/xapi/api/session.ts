// session, task, pool and host calls: login in XAPI's order (HOST_IS_SLAVE before the password, a scaled 5 s
// brake on a bad password), logout, client-created tasks and their progress/result setters, master designation.
import { xapiDate } from '../datamodel/types.js';
import type { Handler } from './context.js';
import { apiError, ApiError } from './errors.js';

const AUTH_FAILURE_DELAY = 5000;

export const sessionHandlers: Record<string, Handler> = {
  'session.login_with_password': async (ctx, [uname, pwd, _version, originator]) => {
    const { core } = ctx;
    const master = core.masterRef();
    if (ctx.via !== master) throw apiError('HOST_IS_SLAVE', core.hostAddress(master));
    if (core.faults.take(['hostIsSlave'], 'session.login_with_password')) {
      const other = core.hostRefs().find((h) => h !== master);
      if (other) {
        core.designateMaster(other);
        throw apiError('HOST_IS_SLAVE', core.hostAddress(other));
      }
      core.log.warn('hostIsSlave fault ignored: the pool has a single host');
    }
    try {
      return await core.sessions.login(uname as string, pwd as string, originator as string);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'SESSION_AUTHENTICATION_FAILED') await core.delay(AUTH_FAILURE_DELAY);
      throw err;
    }
  },
  'session.logout': (ctx) => {
    ctx.core.sessions.logout(ctx.session);
    return '';
  },
  'session.local_logout': (ctx) => {
    ctx.core.sessions.logout(ctx.session);
    return '';
  },
  'session.get_all_subject_identifiers': () => [],
  'task.create': (ctx, [label, description]) => ctx.core.tasks.create(label as string, description as string),
  'task.destroy': (ctx, [ref]) => {
    ctx.core.tasks.destroy(ref as string);
    return '';
  },
  'task.cancel': (ctx, [ref]) => {
    ctx.core.tasks.cancel(ref as string);
    return '';
  },
  'task.set_status': (ctx, [ref, value]) => {
    ctx.core.tasks.clientSetStatus(ref as string, value as string);
    return '';
  },
  'task.set_progress': (ctx, [ref, value]) => {
    ctx.core.db.require('task', ref as string);
    ctx.core.db.set('task', ref as string, { progress: value });
    return '';
  },
  'task.set_result': (ctx, [ref, value]) => {
    ctx.core.db.require('task', ref as string);
    ctx.core.db.set('task', ref as string, { result: value });
    return '';
  },
  'task.set_error_info': (ctx, [ref, value]) => {
    ctx.core.db.require('task', ref as string);
    ctx.core.db.set('task', ref as string, { error_info: value });
    return '';
  },
  'pool.designate_new_master': (ctx, [host]) => {
    ctx.core.db.require('host', host as string);
    ctx.core.designateMaster(host as string);
    return '';
  },
  'pool.sync_database': () => '',
  'host.get_servertime': (ctx, [host]) => {
    ctx.core.db.require('host', host as string);
    return xapiDate();
  },
  'host.get_server_localtime': (ctx, [host]) => {
    ctx.core.db.require('host', host as string);
    return xapiDate();
  },
};
