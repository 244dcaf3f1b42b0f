// The few Keystone v3 admin calls the lab's setup needs, each "ensure" (find by name, create if absent), so a
// second start changes nothing but endpoint URLs (ports may differ between starts).
import { XenimageError } from '../../errors.js';
import type { KeystoneSession } from '../../openstack/keystone.js';
import type { Transport } from '../../openstack/transport.js';

type Json = Record<string, unknown>;

export class KeystoneAdmin {
  constructor(
    private readonly v3Url: string,
    private readonly session: KeystoneSession,
    private readonly transport: Transport,
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<Json> {
    const res = await this.transport.fetch(`${this.v3Url}${path}`, {
      method,
      headers: {
        'x-auth-token': await this.session.token(),
        'content-type': 'application/json',
        accept: 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (res.status >= 300) {
      throw new XenimageError(
        'OpenStackSetupFailed',
        `Keystone ${method} ${path.split('?')[0]} answered HTTP ${res.status}`,
        {
          retryable: false,
          details: { status: res.status },
        },
      );
    }
    return text ? (JSON.parse(text) as Json) : {};
  }

  private async findOne(collection: string, query: Record<string, string>): Promise<Json | undefined> {
    const list = (await this.call('GET', `/${collection}?${new URLSearchParams(query).toString()}`))[
      collection
    ] as Json[];
    return list[0];
  }

  async ensureProject(name: string, description: string): Promise<string> {
    const found = await this.findOne('projects', { name, domain_id: 'default' });
    if (found) return found.id as string;
    const created = await this.call('POST', '/projects', {
      project: { name, domain_id: 'default', description, enabled: true },
    });
    return (created.project as Json).id as string;
  }

  async ensureUser(name: string, password: string, projectId: string): Promise<string> {
    const found = await this.findOne('users', { name, domain_id: 'default' });
    if (found) return found.id as string;
    const created = await this.call('POST', '/users', {
      user: { name, domain_id: 'default', password, default_project_id: projectId, enabled: true },
    });
    return (created.user as Json).id as string;
  }

  async grantProjectRole(projectId: string, userId: string, roleName: string): Promise<void> {
    const role = await this.findOne('roles', { name: roleName });
    if (!role)
      throw new XenimageError('OpenStackSetupFailed', `Keystone has no role "${roleName}"`, { retryable: false });
    await this.call('PUT', `/projects/${projectId}/users/${userId}/roles/${role.id as string}`);
  }

  async ensureService(type: string, name: string): Promise<string> {
    const found = await this.findOne('services', { type });
    if (found) return found.id as string;
    const created = await this.call('POST', '/services', { service: { type, name, enabled: true } });
    return (created.service as Json).id as string;
  }

  /** public, internal and admin endpoints of the service, all at `url`, in `region`. */
  async ensureEndpoints(serviceId: string, url: string, region: string): Promise<void> {
    const existing = (await this.call('GET', `/endpoints?service_id=${serviceId}`)).endpoints as Json[];
    for (const iface of ['public', 'internal', 'admin']) {
      const ep = existing.find((e) => e.interface === iface);
      if (!ep)
        await this.call('POST', '/endpoints', {
          endpoint: { service_id: serviceId, interface: iface, url, region_id: region, enabled: true },
        });
      else if (ep.url !== url) await this.call('PATCH', `/endpoints/${ep.id as string}`, { endpoint: { url } });
    }
  }
}
