# One-off generator: the field tables and explicit message signatures of the classes the lab serves,
# from xapi-project/xen-api doc/data/xenapi.json at e2ee48d6.
import json, sys, re
# usage: python3 generate.py <path to xenapi.json> <output .ts>
d = json.load(open(sys.argv[1]))
C = {c['name']: c for c in d}
SERVED = ['session', 'pool', 'host', 'host_metrics', 'SR', 'PBD', 'VDI', 'VBD', 'VM', 'VM_metrics',
          'VM_guest_metrics', 'VIF', 'network', 'PIF', 'task', 'console', 'VTPM', 'event']

def parse_default(t, s):
    if s is None: return None
    if t.endswith(' set') or t.endswith(' map'):
        if s == '{}': return [] if t.endswith(' set') else {}
        if t == 'int set': return [int(x) for x in s.strip('{}').split(';')]
        pairs = re.findall(r'"([^"]*)" -> "([^"]*)"', s)
        assert pairs, (t, s)
        return dict(pairs)
    if t == 'string':
        assert s.startswith('"') and s.endswith('"'), s
        return json.loads(s)
    if t == 'int': return int(s)
    if t == 'float': return float(s)
    if t == 'bool': return s == 'true'
    return s  # refs, enums, datetimes

enums = {}
out = {}
for cn in SERVED:
    c = C[cn]
    fields = []
    for f in c['fields']:
        e = {'name': f['name'], 'type': f['type'], 'qualifier': f['qualifier']}
        dv = parse_default(f['type'], f.get('default'))
        if f.get('default') is not None: e['default'] = dv
        if f['lifecycle']['state'] == 'Removed_s': e['removed'] = True
        fields.append(e)
    msgs = []
    for m in c['messages']:
        if m['implicit']: continue
        ps = m['params']
        session = bool(ps) and ps[0]['type'] == 'session ref' and ps[0]['name'] == 'session_id'
        if session: ps = ps[1:]
        e = {'name': m['name'], 'result': m['result'][0], 'params': [[p['type'], p['name']] for p in ps]}
        if not session: e['noSession'] = True
        if m['lifecycle']['state'] == 'Removed_s': e['removed'] = True
        msgs.append(e)
    for en in c['enums']:
        enums[en['name']] = [v['name'] for v in en['values']]
    out[cn] = {'fields': fields, 'messages': msgs}

hdr = '''// GENERATED from the XenAPI datamodel as published in xapi-project/xen-api:doc/data/xenapi.json (commit e2ee48d6):
// for each class the lab serves, every field (type, qualifier, constructor default, removed) and the signature of
// every explicit message (implicit getters/setters/constructors are derived by the rules in ./classes.ts).
// These are facts about the public API (names and types), not code. See ./README.md for how it was produced.
import type { RawDatamodel } from './rawTypes.js';

'''
with open(sys.argv[2], 'w') as fh:
    fh.write(hdr)
    fh.write('export const RAW_DATAMODEL: RawDatamodel = ')
    fh.write('{\n  classes: {\n')
    for cn, c in out.items():
        fh.write('    %s: {\n      fields: [\n' % json.dumps(cn))
        for f in c['fields']: fh.write('        ' + json.dumps(f) + ',\n')
        fh.write('      ],\n      messages: [\n')
        for m in c['messages']: fh.write('        ' + json.dumps(m) + ',\n')
        fh.write('      ],\n    },\n')
    fh.write('  },\n  enums: {\n')
    for en, vs in enums.items(): fh.write('    %s: %s,\n' % (json.dumps(en), json.dumps(vs)))
    fh.write('  },\n};\n')
