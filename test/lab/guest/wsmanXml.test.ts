// The lab's own SOAP XML (src/lab/guest/wsmanXml.ts): elements are read by namespace URI whatever the prefixes,
// entities and CDATA decode as XML says, malformed messages are refused, and answers escape what they carry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childOf, childrenOf, MalformedXmlError, parseSoap, writeXml } from '../../../src/lab/guest/wsmanXml.js';

const SOAP = 'http://www.w3.org/2003/05/soap-envelope';
const SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';

test('elements resolve to namespace URIs through any prefix, a redeclared prefix and the default namespace', () => {
  const env = parseSoap(
    `<?xml version="1.0" encoding="utf-8"?>
<env:Envelope xmlns:env="${SOAP}" xmlns:rsp="urn:other"><env:Body>
  <rsp:Ignored/>
  <Shell xmlns="${SHELL}"><Environment><Variable Name="A">1</Variable><Variable Name="B">2</Variable></Environment></Shell>
  <x:CommandLine xmlns:x="${SHELL}"><x:Command>dir</x:Command></x:CommandLine>
</env:Body></env:Envelope>`,
  );
  assert.equal(env.ns, SOAP);
  assert.equal(env.local, 'Envelope');
  const body = childOf(env, SOAP, 'Body');
  assert.equal(childOf(body, SHELL, 'Ignored'), undefined, 'rsp: is bound to another namespace here');
  assert.equal(childOf(body, 'urn:other', 'Ignored')?.local, 'Ignored');
  const vars = childrenOf(childOf(childOf(body, SHELL, 'Shell'), SHELL, 'Environment'), SHELL, 'Variable');
  assert.deepEqual(
    vars.map((v) => [v.attrs.Name, v.text]),
    [
      ['A', '1'],
      ['B', '2'],
    ],
  );
  assert.equal(childOf(childOf(body, SHELL, 'CommandLine'), SHELL, 'Command')?.text, 'dir');
});

test('predefined entities and character references decode once; CDATA stays literal; text is not trimmed', () => {
  const el = parseSoap(`<a v="x &amp;&#38;#65; &quot;">&lt;&#233;&#x41;&amp;amp; <![CDATA[&amp;<b>]]> </a>`);
  assert.equal(el.attrs.v, 'x &&#65; "');
  assert.equal(el.text, '<éA&amp; &amp;<b> ');
});

test('malformed messages are refused: not well-formed, unbound prefix, DOCTYPE, undeclared entity, two roots', () => {
  for (const text of [
    '',
    '<a><b></a>',
    '<s:Envelope/>',
    '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    '<a>&nbsp;</a>',
    '<a>&#0;</a>',
    '<a/><b/>',
  ]) {
    assert.throws(() => parseSoap(text), MalformedXmlError, JSON.stringify(text));
  }
});

test('answers are written without declaration or whitespace, values escaped, End="true" kept, empty elements closed', () => {
  const xml = writeXml({
    's:Body': {
      'rsp:Stream': [
        { '@_Name': 'stdout', '#text': 'a<b>&"c"' },
        { '@_Name': 'stdout', '@_End': 'true' },
      ],
      'rsp:SendResponse': '',
      'f:M': { '@_Machine': 'W<"&>', '#text': 'x' },
    },
  });
  assert.equal(
    xml,
    '<s:Body><rsp:Stream Name="stdout">a&lt;b&gt;&amp;&quot;c&quot;</rsp:Stream><rsp:Stream Name="stdout" End="true"/>' +
      '<rsp:SendResponse/><f:M Machine="W&lt;&quot;&amp;&gt;">x</f:M></s:Body>',
  );
  const back = parseSoap(`<r xmlns:f="urn:f" xmlns:rsp="urn:r" xmlns:s="urn:s">${xml}</r>`);
  assert.equal(back.children[0]!.children[0]!.text, 'a<b>&"c"');
  assert.equal(back.children[0]!.children[3]!.attrs.Machine, 'W<"&>');
});
