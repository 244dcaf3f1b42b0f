// Where the lab keeps each file under <stateDir>: one place, so setup, start and tests agree.
import path from 'node:path';

export interface OpenStackLayout {
  root: string;
  secretsDir: string;
  logDir: string;
  runDir: string;
  cloudsFile: string;
  setupFile: string;
  keystone: { dir: string; conf: string; db: string; fernetKeys: string; credentialKeys: string; policyDir: string };
  glance: {
    dir: string;
    conf: string;
    paste: string;
    db: string;
    images: string;
    staging: string;
    locks: string;
    policyDir: string;
  };
}

export function openStackLayout(stateDir: string): OpenStackLayout {
  const root = path.resolve(stateDir, 'openstack');
  const keystone = path.join(root, 'keystone');
  const glance = path.join(root, 'glance');
  return {
    root,
    secretsDir: path.resolve(stateDir, 'secrets'),
    logDir: path.join(root, 'logs'),
    runDir: path.join(root, 'run'),
    cloudsFile: path.join(root, 'clouds.yaml'),
    setupFile: path.join(root, 'setup.json'),
    keystone: {
      dir: keystone,
      conf: path.join(keystone, 'keystone.conf'),
      db: path.join(keystone, 'keystone.sqlite'),
      fernetKeys: path.join(keystone, 'fernet-keys'),
      credentialKeys: path.join(keystone, 'credential-keys'),
      policyDir: path.join(keystone, 'policy.d'),
    },
    glance: {
      dir: glance,
      conf: path.join(glance, 'glance-api.conf'),
      paste: path.join(glance, 'glance-api-paste.ini'),
      db: path.join(glance, 'glance.sqlite'),
      images: path.join(glance, 'images'),
      staging: path.join(glance, 'staging'),
      locks: path.join(glance, 'locks'),
      policyDir: path.join(glance, 'policy.d'),
    },
  };
}
