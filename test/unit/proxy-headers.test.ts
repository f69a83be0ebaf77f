// Which headers cross the proxy: end-to-end ones do, hop-by-hop ones (RFC 9110 §7.6.1) and those a
// Connection header names do not, nor the client's credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endToEndHeaders } from '../../src/proxy/upstream.ts';

test('hop-by-hop headers, Connection-named ones and the listed extras are dropped; the rest is kept', () => {
  const out = endToEndHeaders(
    {
      connection: 'keep-alive, x-hop',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      upgrade: 'h2c',
      expect: '100-continue',
      host: 'proxy:5000',
      'proxy-authorization': 'Basic x',
      'x-hop': '1',
      authorization: 'Bearer t',
      range: 'bytes=0-9',
      'docker-content-digest': 'sha256:abc',
      'content-length': '10',
      'content-type': 'application/octet-stream',
    },
    ['authorization'],
  );
  assert.deepEqual(out, { range: 'bytes=0-9', 'docker-content-digest': 'sha256:abc', 'content-length': '10', 'content-type': 'application/octet-stream' });
});
